"""``python -m recode_graph.bench``: the same command line as ``recode bench``."""

import sys

from recode_graph.bench.cli import main

sys.exit(main())
