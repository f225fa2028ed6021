"""Answers that need no model call: type-through and the speculative next suggestion.

Type-through: after a suggestion for ``prefix|suffix``, a request whose prefix is
``prefix + typed`` (same suffix) where ``typed`` starts the suggestion is answered with the rest
of the suggestion. That keeps ghost text steady and costs no inference while the user types
along.

The next suggestion: after a suggestion is shown, the one that would follow it once accepted is
computed in the background and kept here under ``prefix + suggestion``. Accepting then shows the
next suggestion at once (and typing along it works the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

REMEMBERED_DOCUMENTS = 64


@dataclass(frozen=True)
class Shown:
    """A suggestion known for a document position."""

    prefix: str
    suffix: str
    text: str
    speculative: bool = False
    """Computed ahead for the text after an acceptance: it answers the exact position too."""
    shortened: bool = False
    """Made from a prompt cut to the time budget, so without all of its repository context."""

    def rest_after(self, prefix: str, suffix: str) -> str | None:
        """What is left of the suggestion once the user is at ``prefix|suffix``, or None."""
        if suffix != self.suffix or not prefix.startswith(self.prefix):
            return None
        typed = prefix[len(self.prefix):]
        if not typed and not self.speculative:
            return None  # the same request again: the client wants a fresh answer
        if not self.text.startswith(typed) or len(typed) >= len(self.text):
            return None
        return self.text[len(typed):]


class TypeThrough:
    """Per document: the last suggestion shown and the speculative one after it."""

    def __init__(self) -> None:
        self._known: dict[str, dict[bool, Shown]] = {}

    def remember(self, uri: str, prefix: str, suffix: str, text: str, *, speculative: bool = False,
                 shortened: bool = False) -> None:
        """Record a suggestion the client was given (or, speculative, one computed ahead)."""
        known = self._known.pop(uri, {})
        known[speculative] = Shown(prefix, suffix, text, speculative, shortened)
        self._known[uri] = known
        if len(self._known) > REMEMBERED_DOCUMENTS:
            self._known.pop(next(iter(self._known)))

    def forget(self, uri: str) -> None:
        """Drop what is remembered for a document (closed)."""
        self._known.pop(uri, None)

    def forget_shortened(self, uri: str) -> None:
        """The document's full prompt is cached now: suggestions made without its context go, so
        that the next keystroke asks the model, which now sees that context."""
        known = self._known.get(uri, {})
        for speculative, shown in list(known.items()):
            if shown.shortened:
                del known[speculative]

    def lookup(self, uri: str, prefix: str, suffix: str) -> tuple[str, bool] | None:
        """The rest of a known suggestion at ``prefix|suffix`` and whether it was speculative."""
        for shown in self._known.get(uri, {}).values():
            rest = shown.rest_after(prefix, suffix)
            if rest is not None:
                return rest, shown.speculative
        return None

    def continuation(self, uri: str, prefix: str, suffix: str) -> str | None:
        """The rest of a known suggestion if the user typed its beginning (or accepted into it)."""
        found = self.lookup(uri, prefix, suffix)
        return found[0] if found else None
