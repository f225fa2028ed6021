"""Incremental tokenization of the code around the cursor, so a keystroke costs what it changed.

llama.cpp tokenizes code at roughly 1 MB/s on a small CPU: the 170 KB before the cursor in a
large file cost about 200 ms per keystroke, far more than evaluating the one new token. Typing
only changes the end of the prefix, so:

- The prefix is cut into blocks of ``LINE_QUANTUM`` lines. Each block starts at the newline that
  ends the line before it: tokenizers merge a newline with the indentation after it (``"\\n   "``)
  but start a new token at a newline that follows code, so the tokens of the blocks joined are
  the tokens of the text joined. (A block starts before any blank lines or trailing spaces
  that precede its first line, as the whole whitespace run is one token.) Blocks are
  remembered by their text; a keystroke re-encodes the last block.
- The prompt's prefix is the longest run of whole blocks, counted from the cursor, that fits
  the budget, so it starts on an aligned line and stays put while the user types.
- The suffix rarely changes while typing: its trimmed head is remembered by its text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

LINE_QUANTUM = 16
"""Lines per block, and so the granularity of where a trimmed prefix may start."""
LONGEST_KEPT_BLOCK = 1024
"""A window cut to whole blocks keeps the block being typed in even over its budget, up to this
many tokens (past it, a huge line: the window keeps the last tokens instead)."""


class TextEncoder(Protocol):
    """Turns user text into token ids with control tokens disabled."""

    def encode(self, text: str) -> list[int]:
        """Tokens for text at the start of a sequence (SentencePiece adds a leading space)."""
        ...

    def encode_infilling(self, text: str) -> list[int]:
        """Tokens for text without any implicit leading space."""
        ...


class TokenMemo:
    """Values (token lists) remembered by their text key, least recently used out first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = self._entries[key] = compute()
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return value


@dataclass
class PromptMemo:
    """What tokenization is kept between keystrokes (one per completer)."""

    blocks: TokenMemo = field(default_factory=lambda: TokenMemo(8192))
    """Prefix blocks: about 16 lines each, so this covers well over 100K tokens of code."""
    suffixes: TokenMemo = field(default_factory=lambda: TokenMemo(16))
    """Trimmed suffixes, keyed by the whole suffix text and the budget: a prompt cut to its time
    budget tries a few budgets per keystroke, so a handful per text."""
    starts: tuple[str, list[int]] = ("", [0])
    """The last text's block starts (one prompt tries several budgets over the same prefix)."""

    def block_starts(self, text: str) -> list[int]:
        if self.starts[0] != text:
            self.starts = (text, block_starts(text))
        return self.starts[1]


def block_starts(text: str) -> list[int]:
    """Offsets where blocks start: 0, then the newline that ends line ``LINE_QUANTUM·k − 1``.

    (Or the blank lines before it: the block starts where the whitespace before the line starts.)
    """
    starts, count = [0], 0
    position = text.find("\n")
    while position != -1:
        count += 1
        if count % LINE_QUANTUM == 0:
            # Start at the whole whitespace run (blank lines, trailing spaces) before the line:
            # tokenizers merge such a run into one token.
            start = position
            while start > 0 and text[start - 1] in " \t\n":
                start -= 1
            if start > starts[-1]:
                starts.append(start)
        position = text.find("\n", position + 1)
    return starts


def tail_blocks(text: str, encoder: TextEncoder, budget: int, memo: TokenMemo, *, whole: bool = False,
                starts: list[int] | None = None) -> tuple[str, list[int]] | None:
    """The longest tail of whole blocks within ``budget`` tokens; None if the last block alone is too long.

    ``whole``: the last block is kept even over the budget (up to ``LONGEST_KEPT_BLOCK`` tokens),
    so that the tail still starts where it started at the previous keystroke.
    """
    starts = starts if starts is not None else block_starts(text)
    ends = starts[1:] + [len(text)]
    blocks: list[list[int]] = []
    used, first = 0, len(starts)
    for index in range(len(starts) - 1, -1, -1):
        block = text[starts[index]:ends[index]]
        encode = encoder.encode if index == 0 else encoder.encode_infilling
        if index == len(starts) - 1:
            tokens = encode(block)  # the block being typed in: new every keystroke, not worth keeping
        else:
            tokens = memo.get((block, index == 0), lambda encode=encode, block=block: encode(block))
        if used + len(tokens) > budget and not (whole and not blocks and len(tokens) <= LONGEST_KEPT_BLOCK):
            break
        blocks.append(tokens)
        used, first = used + len(tokens), index
    if not blocks:
        return None
    return text[starts[first]:], [token for block in reversed(blocks) for token in block]


def head_lines(text: str, encode: Callable[[str], list[int]], budget: int) -> tuple[str, list[int]]:
    """The longest head of ``text`` within ``budget`` tokens that ends at a line end (or all of it)."""
    if budget <= 0 or not text:
        return "", []
    # Look only as far as needed: grow the examined head until it holds more than the budget.
    limit = budget * 4
    while True:
        head = text[:limit]
        tokens = encode(head)
        if len(tokens) <= budget and len(head) == len(text):
            return text, tokens
        if len(tokens) > budget:
            break
        limit *= 2
    ends = [i + 1 for i, char in enumerate(head) if char == "\n"]
    low, high, best = 0, len(ends) - 1, ("", [])
    while low <= high:
        middle = (low + high) // 2
        head_tokens = encode(text[: ends[middle]])
        if len(head_tokens) <= budget:
            best, low = (text[: ends[middle]], head_tokens), middle + 1
        else:
            high = middle - 1
    return best
