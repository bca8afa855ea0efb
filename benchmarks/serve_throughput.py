"""Episodes per second of ``recode serve`` with 1 and with 2 Aegra processes (docs/serving.md).

32 client threads each run episodes back to back (``instruction`` episodes of the scripted ``hello`` model,
two model calls of LATENCY seconds each), spread round-robin over the processes. Needs the serving environment,
a Postgres server and the ``redis-server`` binary; makes and drops a database of its own and runs a private Redis
on a free port (or uses ``--redis URL``):

    .venv312/bin/python benchmarks/serve_throughput.py [--threads 32] [--episodes 4] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432"


def private_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``redis-server`` of this run on a free port of 127.0.0.1 (no persistence); stop it by its PID."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def measure(processes: int, threads: int, episodes: int, latency: float, redis_url: str) -> float:
    from langgraph_sdk import get_sync_client

    from recode_graph.serving.processes import running
    from recode_graph.serving.settings import ServeSettings

    name = f"recode_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = ServeSettings(f"{SERVER}/{name}", ROOT / "langgraph.json", redis_url=redis_url)
        env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "RECODE_TEST_LATENCY": str(latency),
               "RECODE_MODELS": "slow_hello=slow_model:slow_hello"}
        with tempfile.TemporaryDirectory() as logs, running(settings, processes, python=sys.executable,
                                                            log_dir=Path(logs), extra_env=env) as servers:
            clients = [get_sync_client(url=s.url) for s in servers]

            def worker(i: int) -> int:
                client = clients[i % len(clients)]
                done = 0
                for _ in range(episodes):
                    thread = client.threads.create()["thread_id"]
                    state = client.runs.wait(thread, "recode", input={"instruction": f"n{i}"},
                                             context={"model": "slow_hello"})
                    done += state.get("status") == "success"
                return done

            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                ok = sum(pool.map(worker, range(threads)))
            elapsed = time.perf_counter() - start
            assert ok == threads * episodes, f"{ok} of {threads * episodes} episodes succeeded"
            return ok / elapsed
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per client thread")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per model call")
    parser.add_argument("--redis", metavar="URL", help="an existing Redis (default: a private redis-server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        redis, url = (None, args.redis) if args.redis else private_redis(Path(folder))
        try:
            for processes in (1, 2):
                rate = measure(processes, args.threads, args.episodes, args.latency, url)
                print(f"{processes} process(es), {args.threads} threads x {args.episodes} episodes, "
                      f"{args.latency:.1f}s/model call: {rate:.1f} episodes/s "
                      f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        finally:
            if redis is not None:
                redis.terminate()
                redis.wait(timeout=20)


if __name__ == "__main__":
    main()
