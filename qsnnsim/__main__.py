"""`python -m qsnnsim` runs the command-line interface."""

from qsnnsim.cli import main

raise SystemExit(main())
