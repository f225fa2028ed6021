"""Token healing at the cursor: back the prompt off the token the cursor cuts through.

A user types an identifier one character at a time, so most prompts end inside a word, and
the prompt's last token is the tokenizer's spelling of a fragment it would never produce in
the finished word: ``rectangle_peri`` ends in ``per`` + ``i`` while the vocabulary spells
``perimeter`` as ``per`` + ``imeter``. A model that sees ``i`` must continue after a boundary
it never saw in training, and writes ``om_in_metres``. Healing takes the tokens of the run
of letters at the cursor off the prompt (``peri``: ``per`` + ``i``), and generation is then
constrained to spell that text first, choosing the likeliest token that agrees with it
(``per``, then ``imeter``), as the model would have seen the finished word.

The back-off never leaves the run at the cursor: letters and digits, underscores, or other
punctuation (``(``, ``."``). Whitespace at the cursor is healed on its own (see
``context.snapshot.split_healing``). Everything here is pure: token pieces in, a decision out.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

MAX_HEALED_TOKENS = 6
"""Most tokens taken off: each one costs a constrained decode step before the suggestion."""
_RUN = re.compile(r"(?:[^\W_]+|_+|[^\w\s]+)\Z")
"""The run at the cursor: letters and digits (any script), underscores, or other punctuation."""


class PieceTable:
    """Every token's bytes, sorted, to ask which tokens start with a text or are a start of it."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = pieces
        order = sorted((token for token, piece in enumerate(pieces) if piece), key=pieces.__getitem__)
        self._sorted = [pieces[token] for token in order]
        self._order = order
        self._by_piece: dict[bytes, list[int]] = {}
        for token in order:
            self._by_piece.setdefault(pieces[token], []).append(token)

    def longer_starts_with(self, text: bytes) -> bool:
        """Whether a token longer than ``text`` begins with it."""
        low, high = self._range(text)
        return high - low > len(self._by_piece.get(text, ()))

    def consistent(self, pending: bytes) -> list[int]:
        """The tokens that agree with ``pending``: they start with it, or are a start of it."""
        low, high = self._range(pending)
        shorter = [token for end in range(1, len(pending)) for token in self._by_piece.get(pending[:end], ())]
        return shorter + self._order[low:high]

    def _range(self, text: bytes) -> tuple[int, int]:
        """Where the tokens that start with ``text`` lie in the sorted order."""
        low = bisect_left(self._sorted, text)
        if not text:
            return low, len(self._sorted)
        stripped = text.rstrip(b"\xff")
        if not stripped:
            return low, len(self._sorted)
        upper = stripped[:-1] + bytes([stripped[-1] + 1])
        return low, bisect_left(self._sorted, upper, low)


@dataclass(frozen=True)
class Healing:
    """How many prefix tokens the prompt keeps, and the text generation must begin with."""

    kept: int
    forced: str


def heal(prefix_tokens: list[int], prefix: str, table: PieceTable) -> Healing:
    """The back-off for a prompt whose prefix is ``prefix`` (text) spelled as ``prefix_tokens``.

    Every token that overlaps the run of letters and digits at the cursor goes: tokenizers
    split words from punctuation before merging (byte-level BPE by its pre-tokenizer, and in
    practice SentencePiece too), so the boundary where that run starts is one the finished
    word has, while any boundary inside the run may move once the word goes on (SentencePiece
    spells ``größ`` as one token but ``größe`` as ``grö`` + ``ße``). A run of punctuation
    loses its last token only if a longer token starts with it (``(`` → ``()``). Never more
    than ``MAX_HEALED_TOKENS``, never inside a character, and at least one token stays.
    """
    piece = table.pieces.__getitem__
    run = _RUN.search(prefix, prefix.rfind("\n") + 1)  # the cursor's line only: an anchored search scans the text
    if run is None or not prefix_tokens:
        return Healing(len(prefix_tokens), "")
    last = piece(prefix_tokens[-1])
    if not last or (not run.group(0)[0].isalnum() and not table.longer_starts_with(last)):
        return Healing(len(prefix_tokens), "")  # a control token, or punctuation that cannot grow
    run_bytes = len(run.group(0).encode("utf-8"))
    kept, removed = len(prefix_tokens), b""
    while kept > 1 and len(prefix_tokens) - kept < MAX_HEALED_TOKENS and (
            len(removed) < run_bytes or _splits_a_character(removed)):
        token = piece(prefix_tokens[kept - 1])
        if not token:
            break  # a control token: nothing of the user's text lies before it
        kept, removed = kept - 1, token + removed
    while removed and _splits_a_character(removed) and kept < len(prefix_tokens):
        # Undo a back-off that ends inside a character (stopped by the token limit).
        kept, removed = kept + 1, removed[len(piece(prefix_tokens[kept])):]
    return Healing(kept, removed.decode("utf-8", "replace"))


def _splits_a_character(text: bytes) -> bool:
    """Whether ``text`` begins with a UTF-8 continuation byte (the rest of a character)."""
    return bool(text) and 0x80 <= text[0] < 0xC0
