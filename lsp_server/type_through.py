"""Type-through: while the user types what the suggestion shows, answer without the model.

After a suggestion for ``prefix|suffix``, a request whose prefix is ``prefix + typed`` (same
suffix) where ``typed`` starts the suggestion is answered with the rest of the suggestion. That
keeps ghost text steady and costs no inference while the user types along.
"""

from __future__ import annotations

from dataclasses import dataclass

REMEMBERED_DOCUMENTS = 64


@dataclass(frozen=True)
class Shown:
    """The last suggestion shown for a document."""

    prefix: str
    suffix: str
    text: str


class TypeThrough:
    """The last suggestion per document, and the lookup that extends it."""

    def __init__(self) -> None:
        self._shown: dict[str, Shown] = {}

    def remember(self, uri: str, prefix: str, suffix: str, text: str) -> None:
        """Record a suggestion the client was given."""
        self._shown.pop(uri, None)
        self._shown[uri] = Shown(prefix, suffix, text)
        if len(self._shown) > REMEMBERED_DOCUMENTS:
            self._shown.pop(next(iter(self._shown)))

    def forget(self, uri: str) -> None:
        """Drop what is remembered for a document (closed)."""
        self._shown.pop(uri, None)

    def continuation(self, uri: str, prefix: str, suffix: str) -> str | None:
        """The rest of the shown suggestion if the user typed its beginning, else None."""
        shown = self._shown.get(uri)
        if shown is None or suffix != shown.suffix or not prefix.startswith(shown.prefix):
            return None
        typed = prefix[len(shown.prefix):]
        if not typed or not shown.text.startswith(typed) or len(typed) >= len(shown.text):
            return None
        return shown.text[len(typed):]
