"""``recode serve``: the graph of a langgraph.json on N Aegra server processes sharing one Postgres and one
Redis.

Needs the ``serve`` extra (``pip install -e ".[serve]"``). Prints one URL per process; Ctrl-C stops them all.
A process that dies is reported; its runs are taken over by the others (docs/serving.md).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

from recode_graph.cli.common import EXIT_OK, CliError
from recode_graph.serving.settings import DEFAULT_REDIS


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the graph on Aegra: N processes sharing one Postgres and one Redis",
                           description="Serve langgraph.json on N Aegra server processes (an open LangGraph Agent "
                           "Server) that share one Postgres database and one Redis; a run of a process that dies is "
                           "taken over by another. Without an `auth` section in langgraph.json anyone who reaches a "
                           "port may call it: bind to 127.0.0.1 (the default) unless the network is private.")
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
    serve.add_argument("--log-dir", metavar="DIR", help="write each process's log to DIR/server-I.log instead of "
                       "this terminal")
    serve.set_defaults(handler=cmd_serve)


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
        processes.stop(servers, settings.stop_timeout)
    return EXIT_OK
