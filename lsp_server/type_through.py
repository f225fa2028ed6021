"""Answers that need no model call: type-through and the speculative next suggestion.

Type-through: after a suggestion for ``prefix|suffix``, a request whose prefix is
``prefix + typed`` (same suffix) where ``typed`` starts the suggestion is answered with the rest
of the suggestion. That keeps ghost text steady and costs no inference while the user types
along.

The next suggestion: after a suggestion is shown, the one that would follow it once accepted is
computed in the background and kept under ``prefix + suggestion``. Accepting then shows the
next suggestion at once (and typing along it works the same way).

A suggestion the confidence gate held back is kept too: once the user has typed the start of it,
its rest is shown (the user's typing agreed with the model where its score did not).

One :class:`TypeThrough` belongs to one open document (see ``document_state``).
"""

from __future__ import annotations

from dataclasses import dataclass

HELD_SHOWN_AFTER = 2
"""Characters of a held-back suggestion the user must type before its rest is shown: one
matching character is often chance (a space, a bracket), two seldom are."""


@dataclass(frozen=True)
class TypeThroughEntry:
    """A suggestion known for a position of the document."""

    prefix: str
    suffix: str
    text: str
    speculative: bool = False
    """Computed ahead for the text after an acceptance: it answers the exact position too."""
    shortened: bool = False
    """Made from a prompt cut to the time budget, so without all of its repository context."""
    suggestion_id: int = 0
    """The id acceptance commands name: the rest of a suggestion is still that suggestion."""
    held: bool = False
    """The confidence gate held it back: it answers only once the user has typed
    :data:`HELD_SHOWN_AFTER` characters of it, which says more than its score did."""

    def rest_after(self, prefix: str, suffix: str) -> str | None:
        """What is left of the suggestion once the user is at ``prefix|suffix``, or None."""
        if suffix != self.suffix or not prefix.startswith(self.prefix):
            return None
        typed = prefix[len(self.prefix):]
        if not typed and not self.speculative:
            return None  # the same request again: the client wants a fresh answer
        if not self.text.startswith(typed) or len(typed) >= len(self.text):
            return None
        if self.held and len(typed) < HELD_SHOWN_AFTER:
            return None
        return self.text[len(typed):]


class TypeThrough:
    """One document's last suggestion shown and the speculative one after it."""

    def __init__(self) -> None:
        self._entries: dict[bool, TypeThroughEntry] = {}

    def remember(self, prefix: str, suffix: str, text: str, *, speculative: bool = False,
                 shortened: bool = False, suggestion_id: int = 0, held: bool = False) -> None:
        """Record a suggestion the client was given (or, speculative, one computed ahead; or,
        ``held``, one the confidence gate held back)."""
        self._entries[speculative] = TypeThroughEntry(prefix, suffix, text, speculative, shortened, suggestion_id,
                                                      held)

    def forget_shortened(self) -> None:
        """The document's full prompt is cached now: suggestions made without its context go, so
        that the next keystroke asks the model, which now sees that context."""
        for speculative, entry in list(self._entries.items()):
            if entry.shortened:
                del self._entries[speculative]

    def find(self, prefix: str, suffix: str) -> tuple[TypeThroughEntry, str] | None:
        """The known suggestion that goes on at ``prefix|suffix``, and its rest there."""
        for entry in self._entries.values():
            rest = entry.rest_after(prefix, suffix)
            if rest is not None:
                return entry, rest
        return None

    def lookup(self, prefix: str, suffix: str) -> tuple[str, bool] | None:
        """The rest of a known suggestion at ``prefix|suffix`` and whether it was speculative."""
        found = self.find(prefix, suffix)
        return (found[1], found[0].speculative) if found else None

    def continuation(self, prefix: str, suffix: str) -> str | None:
        """The rest of a known suggestion if the user typed its beginning (or accepted into it)."""
        found = self.lookup(prefix, suffix)
        return found[0] if found else None
