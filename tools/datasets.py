"""Benchmark data: where each data set is found, the bundled sample, and installing the full data.

Lookup order for a data set's folder (``alfworld/json_2.1.1``, ``sciworld``):

1. the adapter's ``data_dir=`` option (must hold the folder);
2. ``$RECODE_DATA_DIR`` (must hold it: an explicit setting that is wrong is an error, not a silent sample);
3. the user data directory ``<data home>/data`` (``~/.local/share/recode-graph/data``) when ``recode data``
   installed the set there;
4. the sample bundled with the package (``recode_graph/tools/sample_data``): one ALFWorld game per task type
   and split, and the complete ScienceWorld split files.

``install_from`` and ``download_alfworld`` are what ``recode data`` runs; both build the new folder beside
the destination and rename it into place, so a failure leaves nothing half-installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from recode_graph.tools.base import EnvError

from recode_graph.paths import benchmark_data_dir

SAMPLE_ROOT = Path(__file__).resolve().parent / "sample_data"


@dataclass(frozen=True)
class DataSet:
    name: str
    subdir: str  # relative to a data root
    parts: tuple[str, ...]  # split folders (alfworld) or files (sciworld) that make up the set
    full_sizes: dict[str, int]  # split -> task count of the complete set
    sample_complete: bool  # the bundled copy is the whole set


DATASETS: dict[str, DataSet] = {
    "alfworld": DataSet("alfworld", "alfworld/json_2.1.1", ("valid_seen", "valid_unseen"),
                        {"seen": 140, "unseen": 134}, sample_complete=False),
    "sciworld": DataSet("sciworld", "sciworld",
                        ("valid_indices.json", "test_indices.json", "train_indices.json", "max_steps.json",
                         "taskname2id.json"),
                        {"seen": 194, "unseen": 211}, sample_complete=True),
}


@dataclass(frozen=True)
class Located:
    """A data set's folder and where it came from (``option``, ``RECODE_DATA_DIR``, ``installed``, ``sample``)."""

    path: Path
    source: str

    @property
    def sample(self) -> bool:
        return self.source == "sample"


def fix_hint(name: str) -> str:
    """The command that installs ``name``, for every 'not found' message."""
    return f"run `recode data {name}` (or `recode data {name} --from DIR` with a local copy)"


def _dataset(name: str) -> DataSet:
    if name not in DATASETS:
        raise EnvError(f"unknown data set {name!r} (one of: {', '.join(DATASETS)})")
    return DATASETS[name]


def locate(name: str, option: str | Path | None = None) -> Located:
    """The folder of data set ``name`` by the lookup order above; ``EnvError`` with the fix when missing."""
    data = _dataset(name)
    if option is not None:
        path = Path(option).expanduser() / data.subdir
        if not path.is_dir():
            raise EnvError(f"benchmark data {path} not found (data_dir={option}): {fix_hint(name)}")
        return Located(path, "option")
    explicit = os.environ.get("RECODE_DATA_DIR", "").strip()
    if explicit:
        path = Path(explicit).expanduser() / data.subdir
        if not path.is_dir():
            raise EnvError(f"benchmark data {path} not found (RECODE_DATA_DIR={explicit}): {fix_hint(name)} "
                           "or unset RECODE_DATA_DIR to use the bundled sample")
        return Located(path, "RECODE_DATA_DIR")
    installed = benchmark_data_dir() / data.subdir
    if installed.is_dir():
        return Located(installed, "installed")
    return Located(SAMPLE_ROOT / data.subdir, "sample")


def sample_note(name: str, located: Located) -> str | None:
    """One line saying a run uses the bundled sample (None when it uses full data)."""
    data = _dataset(name)
    if not located.sample or data.sample_complete:
        return None
    sizes = ", ".join(f"{count_tasks(name, located.path, split)} of {full} {split}"
                      for split, full in data.full_sizes.items())
    return f"{name}: using the bundled sample ({sizes} games); `recode data {name}` installs the full splits"


def count_tasks(name: str, root: Path, split: str) -> int:
    """Tasks of ``split`` under a data set folder (0 when the split is missing)."""
    if name == "alfworld":
        base = root / f"valid_{split}"
        return sum(1 for _ in base.glob("*/*/game.tw-pddl")) if base.is_dir() else 0
    files = {"seen": "valid_indices.json", "unseen": "test_indices.json", "train": "train_indices.json"}
    path = root / files.get(split, "")
    try:
        return len(json.loads(path.read_text())) if path.is_file() else 0
    except (OSError, ValueError):
        return 0


def status() -> list[dict[str, object]]:
    """What is installed where, per data set (for ``recode data status``)."""
    rows: list[dict[str, object]] = []
    for name, data in DATASETS.items():
        try:
            located = locate(name)
        except EnvError as exc:
            rows.append({"name": name, "source": "missing", "path": "", "error": str(exc)})
            continue
        sizes = {split: count_tasks(name, located.path, split) for split in data.full_sizes}
        complete = all(sizes[s] >= full for s, full in data.full_sizes.items())
        rows.append({"name": name, "source": located.source, "path": str(located.path), "sizes": sizes,
                     "complete": complete})
    return rows


# -- installing ------------------------------------------------------------------------------------


def _find_set(name: str, source: Path) -> Path:
    """The data set's folder inside a user-given directory (the benchmarks root, or the set folder itself)."""
    data = _dataset(name)
    candidates = [source / data.subdir, source / Path(data.subdir).name, source]
    for cand in candidates:
        if all((cand / part).exists() for part in data.parts):
            return cand
    wanted = ", ".join(data.parts)
    raise EnvError(f"{source} holds no {name} data ({wanted} under {source}/{data.subdir} or {source})")


def install_from(name: str, source: str | Path, *, link: bool = False, force: bool = False) -> tuple[Path, str]:
    """Copy (or symlink, ``link=True``) a local copy of ``name`` into the user data directory.

    Returns the installed folder and what happened (``installed`` / ``linked`` / ``already installed``).
    """
    data = _dataset(name)
    src_root = Path(source).expanduser()
    if not src_root.is_dir():
        raise EnvError(f"--from {source}: not a directory")
    found = _find_set(name, src_root).resolve()
    dest = benchmark_data_dir() / data.subdir
    if dest.exists() or dest.is_symlink():
        if dest.resolve() == found or (not force and _same_sizes(name, dest, found)):
            return dest, "already installed"
        if not force:
            raise EnvError(f"{dest} already holds {name} data; pass --force to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        if link:
            new = staging / "link"
            new.symlink_to(found, target_is_directory=True)
        else:
            new = staging / "copy"
            new.mkdir()
            for part in data.parts:
                src = found / part
                if src.is_dir():
                    shutil.copytree(src, new / part)
                else:
                    shutil.copy2(src, new / part)
        _replace(new, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest, "linked" if link else "installed"


def _same_sizes(name: str, a: Path, b: Path) -> bool:
    splits = _dataset(name).full_sizes
    return all(count_tasks(name, a, s) == count_tasks(name, b, s) for s in splits)


def _remove(path: Path) -> None:
    """Delete a file, a symlink (not its target) or a folder; nothing when absent."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _replace(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``, removing an old ``dest`` only once the new one is complete."""
    old = dest.with_name(dest.name + ".old")
    _remove(old)
    if dest.is_symlink() or dest.exists():
        dest.rename(old)
    new.rename(dest)
    _remove(old)


def download_alfworld(*, force: bool = False, timeout: float = 1800) -> tuple[Path, str]:
    """Fetch ALFWorld's release with its own downloader (``alfworld-download``) and install the two splits."""
    script = shutil.which("alfworld-download") or str(Path(sys.executable).with_name("alfworld-download"))
    if not Path(script).exists():
        raise EnvError('the ALFWorld downloader needs the alfworld package: in the checkout run '
                       'pip install -e ".[envs]" (elsewhere: pip install "/path/to/recode-graph[envs]")')
    with tempfile.TemporaryDirectory(prefix="recode-alfworld-") as tmp:
        try:
            done = subprocess.run([script, "--data-dir", tmp], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EnvError(f"ALFWorld download did not finish in {timeout:.0f} s; with a local copy: "
                           "recode data alfworld --from DIR") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            reason = lines[-1] if lines else f"exit code {done.returncode}"
            reason = reason if len(reason) <= 160 else reason[:157] + "..."
            raise EnvError(f"ALFWorld download failed ({reason}); with a local copy: "
                           "recode data alfworld --from DIR")
        return install_from("alfworld", Path(tmp) / "json_2.1.1", force=force)
