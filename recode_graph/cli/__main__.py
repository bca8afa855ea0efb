"""``python -m recode_graph.cli``."""

import sys

from recode_graph.cli import main

sys.exit(main())
