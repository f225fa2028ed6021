"""Prompts kept in host memory, so that coming back to a document finds its prompt still cached.

One KV cache holds one prompt. When a prompt shares less than half of the cached one (another
document, or the background evaluation of a full prompt over a shortened one), the engine copies
the cached positions to host memory before cutting them back; when a later prompt shares more
with a saved copy than with the cache, that copy is brought back instead of evaluating the
prompt again. llama-server's host-memory prompt cache does the same for its slots. This module
only decides and stores; the engine copies.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import count
from typing import Any

from infill_lsp.engine.kv_reuse import common_prefix_length

SAVE_AT_LEAST = 64
"""Prompt tokens a switch must drop or win back to be worth a copy (fewer evaluate faster)."""
MOST_PROMPTS = 4
MOST_BYTES = 512 * 2**20


@dataclass(frozen=True)
class SavedPrompt:
    """The cached positions of one prompt, copied to host memory."""

    tokens: list[int]
    state: Any
    """llama.cpp's sequence state (a byte array)."""


class SavedPrompts:
    """The last few prompts moved out of the cache, least recently used out first."""

    def __init__(self, most: int = MOST_PROMPTS, most_bytes: int = MOST_BYTES) -> None:
        self.most, self.most_bytes = most, most_bytes
        self._saved: OrderedDict[int, SavedPrompt] = OrderedDict()
        self._keys = count()

    def __len__(self) -> int:
        return len(self._saved)

    def worth_saving(self, cached_prompt: int, kept: int) -> bool:
        """Whether a prompt of ``cached_prompt`` tokens, of which the next keeps ``kept``, is
        worth a copy: the next prompt is something else, not the same one typed on."""
        return cached_prompt - kept >= SAVE_AT_LEAST and kept < cached_prompt // 2

    def best_for(self, tokens: list[int], better_than: int) -> int | None:
        """The saved prompt sharing the most with ``tokens``, if it wins back enough over ``better_than``."""
        best, shared = None, better_than + SAVE_AT_LEAST - 1
        for key, saved in self._saved.items():
            length = common_prefix_length(saved.tokens, tokens)
            if length > shared:
                best, shared = key, length
        return best

    def take(self, key: int) -> SavedPrompt:
        """Remove a saved prompt to bring it back into the cache."""
        return self._saved.pop(key)

    def keep(self, saved: SavedPrompt) -> None:
        """Store a copy; a copy it extends goes, then the oldest while over the limits."""
        for key, other in list(self._saved.items()):
            if common_prefix_length(other.tokens, saved.tokens) == len(other.tokens):
                del self._saved[key]
        self._saved[next(self._keys)] = saved
        while len(self._saved) > self.most or self.bytes() > self.most_bytes:
            self._saved.popitem(last=False)

    def bytes(self) -> int:
        """Host memory the copies take."""
        return sum(len(saved.state) for saved in self._saved.values())

    def clear(self) -> None:
        self._saved.clear()
