"""``python -m mmgraph`` (and ``torchrun -m mmgraph``) runs the CLI."""

import sys

from mmgraph.cli import main

sys.exit(main())
