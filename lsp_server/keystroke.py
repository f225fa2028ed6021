"""The values one keystroke carries between the server's edge and the completion service:
where the request is (:class:`Spot`) and what goes back (:class:`Answer`)."""

from __future__ import annotations

from dataclasses import dataclass

from infill_lsp.context import CursorSnapshot


@dataclass(frozen=True)
class Spot:
    """Where a request is: the document, its version, the cursor, and the snapshot taken there."""

    uri: str
    version: int | None
    line: int
    character: int
    cursor: CursorSnapshot
    """The text split at the cursor, taken once at the edge; every later stage reads it."""
    language: str = ""
    """The editor's language id (the file's extension when it sends none): acceptance counts and
    the gate's threshold are per language."""

    @property
    def place(self) -> tuple[int | None, int, int]:
        """``(version, line, character)``: what ``infill/explain`` matches its question against."""
        return self.version, self.line, self.character


@dataclass(frozen=True)
class Answer:
    """What the edge returns for one request: the text ('' for none) and the id the editor's
    acceptance command names."""

    text: str
    suggestion_id: int = 0
