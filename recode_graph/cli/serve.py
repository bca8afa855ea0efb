"""``recode serve``: the graph of a langgraph.json on N Aegra server processes sharing one Postgres.

Needs the ``serve`` extra (``pip install -e ".[serve]"``). Prints one URL per process; Ctrl-C stops them all.
A process that dies is reported; its runs are taken over by the others (docs/serving.md).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from recode_graph.cli.common import EXIT_OK, CliError


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the graph on Aegra: N processes sharing one Postgres",
                           description="Serve langgraph.json on N Aegra server processes (an open LangGraph Agent "
                           "Server) that share one Postgres database; a run of a process that dies is taken over "
                           "by another. Without an `auth` section in langgraph.json anyone who reaches a port may "
                           "call it: bind to 127.0.0.1 (the default) unless the network is private.")
    serve.add_argument("--processes", type=int, default=1, metavar="N", help="server processes (default 1)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=2024, help="port of the first process; the others take the next "
                       "ones (default 2024)")
    serve.add_argument("--database", metavar="URL", default=os.environ.get("DATABASE_URL"),
                       help="Postgres URL shared by all processes (default: $DATABASE_URL)")
    serve.add_argument("--config", default="langgraph.json", help="the langgraph.json to serve (default: "
                       "./langgraph.json)")
    serve.add_argument("--takeover-interval", type=float, default=2.0, metavar="SECONDS",
                       help="how often each process looks for runs of dead processes (default 2)")
    serve.add_argument("--log-dir", metavar="DIR", help="write each process's log to DIR/server-I.log instead of "
                       "this terminal")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: Any) -> int:
    if importlib.util.find_spec("aegra_api") is None:
        raise CliError("`recode serve` needs the serve extra: pip install -e \".[serve]\"")
    if args.processes < 1:
        raise CliError("--processes must be at least 1")
    if not args.database:
        raise CliError("no Postgres for the servers: pass --database postgresql://USER@HOST:5432/DB "
                       "or set DATABASE_URL")
    config = Path(args.config)
    if not config.is_file():
        raise CliError(f"no {config}: run in the project folder or pass --config PATH/langgraph.json")
    from recode_graph.serving import processes
    from recode_graph.serving.settings import ServeSettings

    settings = ServeSettings(args.database, config, takeover_interval=args.takeover_interval)
    log_dir = Path(args.log_dir) if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    ports = [args.port + i for i in range(args.processes)]
    try:
        servers = processes.start(settings, args.processes, host=args.host, ports=ports, log_dir=log_dir)
    except processes.ServeError as exc:
        raise CliError(str(exc).splitlines()[0], code=1) from None
    try:
        for i, server in enumerate(servers):
            print(f"server {i}: {server.url}  (pid {server.pid})", flush=True)
        print("Ctrl-C stops them all", flush=True)
        alive = list(servers)
        while alive:
            time.sleep(1)
            for server in [s for s in alive if s.proc.poll() is not None]:
                alive.remove(server)
                print(f"server {server.url} (pid {server.pid}) exited with {server.proc.returncode}; "
                      f"{len(alive)} left", flush=True)
    except KeyboardInterrupt:
        print("stopping the servers", flush=True)
    finally:
        processes.stop(servers)
    return EXIT_OK
