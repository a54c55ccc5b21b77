"""`python -m qsnnsim.train` runs the trainer's command line (`qsnnsim train`)."""

import sys

from qsnnsim.train.cli import main

raise SystemExit(main(sys.argv[1:]))
