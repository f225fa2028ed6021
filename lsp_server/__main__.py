"""``python -m infill_lsp`` runs the command-line entry point."""

from infill_lsp.cli import main

raise SystemExit(main())
