"""``python -m lsp_server`` runs the command-line entry point."""

from lsp_server.cli import main

raise SystemExit(main())
