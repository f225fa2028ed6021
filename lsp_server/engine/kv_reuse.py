"""KV-cache reuse past the common prefix: which cached runs can be shifted into place.

When an early part of the prompt changes (a block of the file window scrolls out, a repository
chunk is swapped), the longest common prefix with the cache ends there, yet most of what
follows is still in the cache, only at other positions. llama.cpp can move cached positions
(``llama_memory_seq_add``; RoPE keys are re-rotated on the next decode), so such runs are
shifted left instead of evaluated again, as llama-server's ``--cache-reuse`` does. This module
only plans the moves; the engine applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_REUSED_RUN = 64
"""Shorter runs are evaluated again: a shift has a fixed cost and short runs match by chance."""


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


@dataclass(frozen=True)
class Move:
    """Cached positions ``[source, source + length)`` belong at ``target`` (< ``source``)."""

    source: int
    target: int
    length: int


def plan_moves(cached: list[int], prompt: list[int], keep: int, min_run: int = MIN_REUSED_RUN) -> tuple[list[Move],
                                                                                                        int]:
    """Moves that bring cached runs, in order, right after the ``keep`` common tokens.

    Returns the moves and how many prompt tokens the cache holds once they are applied. The last
    prompt token is never reused: it is decoded again to get the logits.
    """
    moves: list[Move] = []
    head, position = keep, keep
    limit = len(prompt) - 1
    while head < limit and position < len(cached):
        try:  # the next place the run could start (C speed: this runs on every keystroke)
            position = cached.index(prompt[head], position)
        except ValueError:
            break
        run = 0
        while head + run < limit and position + run < len(cached) and prompt[head + run] == cached[position + run]:
            run += 1
        if run >= min_run:
            if position != head:
                moves.append(Move(position, head, run))
            head, position = head + run, position + run
        else:
            position += 1
    return moves, head


MIN_INSERT_BLOCK = 8
"""Fewer cached tokens after the edit are evaluated again: shifting them saves less than it risks."""
FRESH_BLOCK_START = 8
"""Tokens at the start of a moved block that are evaluated again with the typed ones: they read
the edit most closely (PSM: ``<SUF>`` and the rest of the cursor's line). Moving them too put the
next-token distribution 0.16 nats (KL, median) from the exact prompt's after one or two changed
tokens; evaluating these 8 again, 0.007 (docs/benchmarks.md, "PSM typing")."""


def common_suffix_length(a: list[int], b: list[int], limit: int) -> int:
    """Length of the longest common suffix of two token lists, at most ``limit``."""
    index = 0
    while index < limit and a[-1 - index] == b[-1 - index]:
        index += 1
    return index


@dataclass(frozen=True)
class Insert:
    """Typing before a cached block (PSM: the suffix after the prefix): after the common tokens,
    drop the ``removed`` cached ones, decode ``gap`` in their place and move the cached block
    ``[block_start, block_end)`` by ``shift`` to follow it."""

    removed: int
    gap: list[int]
    block_start: int
    block_end: int
    shift: int
    fresh: int
    """Of the tokens in ``gap``, those at the start of the block, evaluated again rather than moved."""

    @property
    def changed(self) -> int:
        """Tokens before the moved block that differ from what it was computed after."""
        return len(self.gap) + self.removed - 2 * self.fresh


def plan_insert(cached: list[int], prompt: list[int], keep: int, min_block: int = MIN_INSERT_BLOCK) -> Insert | None:
    """The insert that brings the cached prompt ``cached`` to ``prompt`` when both end alike,
    or None when too little of that end would be reused. The last prompt token is never reused
    (it is decoded again for its logits), nor the block's first ``FRESH_BLOCK_START`` tokens."""
    tail = common_suffix_length(cached, prompt, min(len(cached), len(prompt)) - keep)
    if tail - 1 - FRESH_BLOCK_START < min_block:
        return None
    tail -= FRESH_BLOCK_START
    return Insert(len(cached) - tail - keep, prompt[keep:len(prompt) - tail], len(cached) - tail,
                  len(cached) - 1, len(prompt) - len(cached), FRESH_BLOCK_START)
