"""``recode data``: install the full benchmark data into the user data directory, or show what is there.

    recode data status                          what each data set resolves to, and its task counts
    recode data alfworld                        ALFWorld's own downloader (needs the internet)
    recode data alfworld --from DIR [--link]    copy (or symlink) a local copy, e.g. ../shared/benchmarks
    recode data sciworld [--from DIR]           the ScienceWorld split files (default: the copy in the package)

The destination is ``$RECODE_DATA_DIR``, else ``~/.local/share/recode-graph/data`` (``$XDG_DATA_HOME``).
"""

from __future__ import annotations

import argparse
from typing import Any

from recode_graph.cli.common import CliError
from recode_graph.paths import benchmark_data_dir


def add_parser(sub: Any) -> None:
    data = sub.add_parser("data", help="install the full benchmark data, or show what is installed",
                          description="Install benchmark data into " + str(benchmark_data_dir()) +
                          " ($RECODE_DATA_DIR overrides), or show what each data set resolves to.")
    data.add_argument("what", choices=["status", "alfworld", "sciworld"],
                      help="status, or the data set to install")
    data.add_argument("--from", dest="source", metavar="DIR",
                      help="a local copy (the benchmarks folder holding alfworld/json_2.1.1 and sciworld/, "
                      "or the data set folder itself)")
    data.add_argument("--link", action="store_true", help="symlink the local copy instead of copying it")
    data.add_argument("--force", action="store_true", help="replace data that is already installed")
    data.set_defaults(handler=run)


def run(args: argparse.Namespace, say: Any = print) -> int:
    """Carry out ``recode data``; returns the exit code. ``CliError`` (exit 2) for bad input."""
    from recode_graph.tools.base import EnvError
    from recode_graph.tools.datasets import (
        DATASETS,
        SAMPLE_ROOT,
        count_tasks,
        download_alfworld,
        install_from,
        status,
    )

    if args.what == "status":
        if args.source or args.link or args.force:
            raise CliError("`recode data status` takes no --from/--link/--force")
        say(f"data directory: {benchmark_data_dir()}")
        for row in status():
            if row["source"] == "missing":
                say(f"{row['name']}: missing — {row['error']}")
                continue
            sizes = row["sizes"]
            assert isinstance(sizes, dict)
            counts = ", ".join(f"{split} {count}" for split, count in sizes.items())
            kind = "complete" if row["complete"] else "partial"
            say(f"{row['name']}: {row['source']} ({kind}: {counts}) {row['path']}")
        return 0
    name = args.what
    if args.link and not args.source:
        raise CliError("--link needs --from DIR")
    try:
        if args.source:
            dest, what = install_from(name, args.source, link=args.link, force=args.force)
        elif name == "alfworld":
            say("downloading ALFWorld's release with alfworld-download ...")
            dest, what = download_alfworld(force=args.force)
        else:  # the complete split files ship with the package: install that copy
            dest, what = install_from(name, SAMPLE_ROOT, force=args.force)
    except EnvError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot install {name} data: {exc}") from None
    counts = ", ".join(f"{split} {count_tasks(name, dest, split)}" for split in DATASETS[name].full_sizes)
    say(f"{name}: {what} at {dest} ({counts})")
    return 0
