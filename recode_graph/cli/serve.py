"""``recode serve``: the graph of a langgraph.json on N Aegra server processes sharing one Postgres and one
Redis.

Needs the ``serve`` extra (``pip install -e ".[serve]"``). Prints one URL per process; Ctrl-C stops them all.
A process that dies is reported and started again after a backoff (``serving.supervise``; ``--no-restart``: only
reported); its runs are taken over by the others meanwhile (docs/serving.md).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

from recode_graph.cli.common import EXIT_OK, CliError
from recode_graph.serving.config import auth_warning
from recode_graph.serving.settings import DEFAULT_REDIS


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the graph on Aegra: N processes sharing one Postgres and one Redis",
                           description="Serve langgraph.json on N Aegra server processes (an open LangGraph Agent "
                           "Server) that share one Postgres database and one Redis; a run of a process that dies is "
                           "taken over by another. Without an `auth` section in langgraph.json anyone who reaches a "
                           "port may call it (a warning says so at start): bind to 127.0.0.1 (the default) unless "
                           "the network is private. Run contexts choose models by name: provider strings, local, "
                           "scripted fixtures and the names in $RECODE_MODELS, never a module path.")
    serve.add_argument("--processes", type=int, default=1, metavar="N", help="server processes (default 1)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=2024, help="port of the first process; the others take the next "
                       "ones (default 2024)")
    serve.add_argument("--database", metavar="URL", default=os.environ.get("DATABASE_URL"),
                       help="Postgres URL shared by all processes (default: $DATABASE_URL)")
    serve.add_argument("--config", default="langgraph.json", help="the langgraph.json to serve (default: "
                       "./langgraph.json)")
    serve.add_argument("--redis", metavar="URL", default=os.environ.get("REDIS_URL", DEFAULT_REDIS),
                       help=f"Redis URL shared by all processes: the run queue (default: $REDIS_URL or "
                       f"{DEFAULT_REDIS})")
    serve.add_argument("--workers", type=int, default=2, metavar="N", help="queue consumers per process (default 2)")
    serve.add_argument("--jobs-per-worker", type=int, default=16, metavar="N",
                       help="runs each consumer executes at once (default 16)")
    serve.add_argument("--lease", type=int, default=30, metavar="SECONDS",
                       help="run lease: a dead process's runs restart elsewhere within about this (default 30)")
    serve.add_argument("--heartbeat", type=int, default=10, metavar="SECONDS",
                       help="lease renewal interval; the lease must be longer than two (default 10)")
    serve.add_argument("--reaper", type=int, default=15, metavar="SECONDS",
                       help="how often each process looks for expired leases (default 15)")
    serve.add_argument("--drain", type=float, default=10.0, metavar="SECONDS",
                       help="on Ctrl-C/SIGTERM: time runs get to finish before they are handed back (default 10)")
    serve.add_argument("--no-restart", action="store_true", help="do not restart a server process that dies "
                       "(default: restart it after 1 s, doubling up to 60 s while it keeps dying)")
    serve.add_argument("--log-dir", metavar="DIR", help="write each process's log to DIR/server-I.log instead of "
                       "this terminal")
    serve.set_defaults(handler=cmd_serve)


def served_config(config: Path) -> Any:
    """The config's ``auth`` and ``env``, and the model allowlist the servers will use, checked before any
    process starts (a malformed one is one line, never a server that quietly runs without it)."""
    from recode_graph.models.allowlist import parse
    from recode_graph.serving.config import ConfigError, read

    try:
        served = read(config)
        parse({**os.environ, **served.env}.get("RECODE_MODELS", ""))
    except (ConfigError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return served


def cmd_serve(args: Any) -> int:
    if sys.version_info < (3, 12):
        raise CliError("`recode serve` runs on Aegra, which needs Python 3.12+: make install-serve (a .venv312 with "
                       "the serve extra), then .venv312/bin/recode serve ...")
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

    served = served_config(config)

    try:
        settings = ServeSettings(args.database, config, redis_url=args.redis, workers=args.workers,
                                 jobs_per_worker=args.jobs_per_worker, lease=args.lease, heartbeat=args.heartbeat,
                                 reaper=args.reaper, drain=args.drain)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    log_dir = Path(args.log_dir) if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    ports = [args.port + i for i in range(args.processes)]
    try:
        own = settings.env({})  # the config's env never overrides what these settings choose
        servers = processes.start(settings, args.processes, host=args.host, ports=ports, log_dir=log_dir,
                                  extra_env={k: v for k, v in served.env.items() if k not in own})
    except processes.ServeError as exc:
        lines = str(exc).splitlines()
        why = [line.strip() for line in lines if "AuthLoadError:" in line][-1:]  # a broken auth handler
        raise CliError(" ".join(lines[:1] + why), code=1) from None
    warning = auth_warning(served, args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        for i, server in enumerate(servers):
            print(f"server {i}: {server.url}  (pid {server.pid})", flush=True)
        print("Ctrl-C stops them all", flush=True)
        watch(settings, servers, ports, args, log_dir)
    except KeyboardInterrupt:
        print("stopping the servers", flush=True)
    finally:
        processes.stop(servers, settings.stop_timeout)
    return EXIT_OK


def watch(settings: Any, servers: list[Any], ports: list[int], args: Any, log_dir: Path | None) -> None:
    """Until Ctrl-C: restart a process that dies (``serving.supervise``), or with --no-restart report it and
    return when none is left."""
    from recode_graph.serving.supervise import Supervisor

    def say(line: str) -> None:
        print(line, flush=True)

    supervisor = Supervisor(settings, servers, ports, host=args.host, log_dir=log_dir, say=say)
    alive = list(servers)
    while alive:
        time.sleep(1)
        if not args.no_restart:
            supervisor.tick()
            continue
        for server in [s for s in alive if s.proc.poll() is not None]:
            alive.remove(server)
            say(f"server {server.url} (pid {server.pid}) exited with {server.proc.returncode}; {len(alive)} left")
