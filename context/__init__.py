"""Repository context: index the workspace, keep it fresh, pick the code a prompt should see."""

from context.repository import Repository, Snippet
from context.ranking import select
from context.snapshot import CursorSnapshot
from context.ignore import FileRules, is_secret

__all__ = ["Repository", "CursorSnapshot", "FileRules", "Snippet", "is_secret", "select"]
