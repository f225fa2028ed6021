"""Repository context: index the workspace, keep it fresh, pick the code a prompt should see."""

from infill_lsp.context.ignore import FileRules, is_secret
from infill_lsp.context.ranking import select
from infill_lsp.context.repository import Repository, Snippet
from infill_lsp.context.snapshot import CursorSnapshot

__all__ = ["Repository", "CursorSnapshot", "FileRules", "Snippet", "is_secret", "select"]
