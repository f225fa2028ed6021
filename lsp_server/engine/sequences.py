"""The KV cache's sequences: which prompt each one holds, and which one a new prompt goes to.

One llama.cpp context holds several sequences (a KV stream each on the CPU, else one shared
pool of cells: see :class:`~infill_lsp.engine.native.NativeContext`). Two are what typing needs:
while the prompt of a freshly opened file is shortened to the time budget, the user's
keystrokes extend the short prompt in one sequence and the full prompt grows in the other
between them, without either evicting the other; and two documents edited in turn both stay
cached. Older prompts move to host memory (see :mod:`infill_lsp.engine.saved_prompts`).

This module only decides; the engine evaluates. No cell is shared between these sequences
(llama.cpp keeps one position per cell, so shifting a shared cell would move it for both); only
the scratch id of ``NativeContext.decode_beside`` tags cells of one for the length of a call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

SEQUENCES = 2
SHARED_HEAD = 64
"""Reused tokens that make a sequence worth cutting back rather than filling another one."""


@dataclass
class Sequence:
    """One KV sequence: the tokens at its positions ``0..n-1``."""

    id: int
    tokens: list[int] = field(default_factory=list)
    prompt_length: int = 0
    """Of the tokens, those of the last prompt (the rest were generated after it)."""
    last_used: int = 0
    stale_from: int | None = None
    """Where cached positions begin that were shifted into place after text before them changed
    (see ``kv_cache.KvCache._insert``): close to, not exactly, what evaluating them would give."""
    stale: int = 0
    """How many tokens before those positions changed since they were last evaluated."""

    def prompt(self) -> int:
        """How many cached tokens belong to the last prompt."""
        return min(self.prompt_length, len(self.tokens))

    def forget(self) -> None:
        self.tokens.clear()
        self.prompt_length = 0
        self.exact()

    def exact(self) -> None:
        """Every cached position is what evaluating the tokens before it gives."""
        self.stale_from, self.stale = None, 0


def continues(sequence: Sequence, reused: int) -> bool:
    """Whether a prompt that reuses ``reused`` of the sequence's tokens is the same prompt typed
    on (or an empty sequence filled), rather than another prompt that would replace it."""
    return reused >= sequence.prompt() // 2


def choose(sequences: list[Sequence], reusable: Callable[[Sequence], int], *,
           keep_whole: Sequence | None = None) -> Sequence:
    """The sequence to evaluate a prompt in.

    The one that reuses the most of it among those whose prompt it continues; else the one it
    shares a long head with (a shortened prompt over the repository context a grown one holds);
    else an empty one; else the least recently used one, whose prompt is replaced.
    ``keep_whole`` (the sequence the user's last request used, during background work) is
    chosen only if the prompt keeps all of its prompt: background work never cuts back what the
    next keystroke needs.
    """
    reused = {sequence.id: reusable(sequence) for sequence in sequences}
    allowed = [sequence for sequence in sequences
               if sequence is not keep_whole or reused[sequence.id] >= sequence.prompt()] or sequences
    going_on = [sequence for sequence in allowed if sequence.tokens and continues(sequence, reused[sequence.id])]
    best = max(going_on or allowed, key=lambda sequence: (reused[sequence.id], sequence.last_used))
    if going_on or reused[best.id] >= SHARED_HEAD:
        return best
    return min(allowed, key=lambda sequence: (bool(sequence.tokens), sequence.last_used))
