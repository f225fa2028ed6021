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


def plan_moves(cached: list[int], prompt: list[int], keep: int, min_run: int = MIN_REUSED_RUN) -> tuple[list[Move], int]:
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
