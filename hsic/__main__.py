"""``python -m hsic`` runs the command-line tool."""

from hsic.cli import main

raise SystemExit(main())
