"""The record of what the KV cache holds, and the moves that keep it useful.

One llama.cpp context holds several sequences (see :mod:`infill_lsp.engine.sequences`). This
module owns the mirror of each sequence's tokens and every operation that changes them: choosing
the sequence for a prompt, cutting it back to the part the prompt reuses (shifting cached text
into place where that reuses more), copying prompts to host memory and back
(:mod:`infill_lsp.engine.saved_prompts`), evicting to make room, and appending decoded tokens.
It never generates and never times anything: that is the engine's.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from infill_lsp.engine.generation import GenerationStats
from infill_lsp.engine.kv_reuse import common_prefix_length, plan_insert, plan_moves
from infill_lsp.engine.native import DecodeAborted, NativeContext, NoRoom
from infill_lsp.engine.saved_prompts import SAVE_AT_LEAST, SavedPrompt, SavedPrompts
from infill_lsp.engine.sequences import Sequence, choose, continues

logger = logging.getLogger(__name__)

STALE_LIMIT = 24
"""Most tokens that may change before a cached block shifted into place (see :meth:`KvCache.place`)
before it is evaluated again: past this, the block computed against the older text would read
the new one too loosely (docs/benchmarks.md, "PSM typing": the first token's distribution and
the greedy line against the exact prompt)."""


class KvCache:
    """The sequences of one native context and the prompts saved from them."""

    def __init__(self, context: NativeContext) -> None:
        self.context = context
        self.sequences = [Sequence(number) for number in range(context.n_sequences)]
        self.current = self.sequences[0]
        """The sequence of the last evaluation: generation continues it."""
        self.foreground = self.current
        """The sequence of the user's last request: background work leaves its prompt whole."""
        self.saved = SavedPrompts()
        self._uses = itertools.count(1)

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` the cache already holds in place (in any sequence)."""
        return max(common_prefix_length(sequence.tokens, tokens) for sequence in self.sequences)

    def reusable(self, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` a request's evaluation would take from the cache,
        shifts included: in the sequence it would use, not in whichever holds the most of them
        (a short prompt goes on in its own sequence even where a grown one holds more of it)."""
        reused: dict[int, int] = {}

        def reusable_in(sequence: Sequence) -> int:
            reused[sequence.id] = self.reusable_in(sequence, tokens)
            return reused[sequence.id]

        return reused[choose(self.sequences, reusable_in).id]

    def reusable_in(self, sequence: Sequence, tokens: list[int], *, inserting: bool = True) -> int:
        """Tokens of ``tokens`` that ``sequence`` holds or can shift into place (``inserting``: after
        tokens decoded in place, as a request's evaluation does; see :meth:`place`)."""
        keep = common_prefix_length(sequence.tokens, tokens)
        insert = self._insert_plan(sequence, tokens, keep) if inserting else None
        if insert is not None:
            return len(tokens) - 1 - len(insert.gap)
        if keep < len(sequence.tokens) and keep < len(tokens) - 1 and self.context.can_shift():
            moves, reusable = plan_moves(sequence.tokens, tokens, keep)
            return reusable if moves else keep
        return keep

    def place(self, tokens: list[int], stats: GenerationStats, *, background: bool, may_evict: bool) -> Sequence:
        """Choose the sequence for ``tokens`` and cut it back to the part of them it holds.

        What remains to evaluate is ``tokens[len(sequence.tokens):]``: at least the last token,
        whose logits generation needs. ``background`` work leaves the sequence of the user's last
        request whole, and makes room by evicting only if ``may_evict``.

        A request whose prompt ends as the cached one does but differs before that end (PSM: the
        user typed at the end of the prefix, and the suffix block follows) keeps the cached end:
        only the typed tokens are decoded, in their place, and the block moves to follow them
        (:meth:`_insert`). The block then was computed against the older text; background work
        evaluates it again exactly (``stale_from``), as does a request once ``STALE_LIMIT``
        tokens before it have changed.
        """
        sequence = choose(self.sequences, lambda candidate: self.reusable_in(candidate, tokens,
                                                                             inserting=not background),
                          keep_whole=self.foreground if background else None)
        sequence.last_used = next(self._uses)
        self.current = sequence
        if not background:
            self.foreground = sequence
        keep = self._switch_saved(sequence, tokens, stats, evict=not background or may_evict)
        if keep == len(tokens):
            keep -= 1  # the last prompt token must be decoded again to get its logits
        if not background and self._insert(sequence, tokens, keep, stats):
            return sequence
        if sequence.stale_from is not None and (background or keep <= sequence.stale_from):
            keep = min(keep, sequence.stale_from)  # background work evaluates the shifted block exactly
            sequence.exact()
        cached = sequence.tokens
        if keep < len(cached) and self.context.can_shift() and sequence.stale_from is None:
            moves, reusable = plan_moves(cached, tokens, keep)
            for move in moves:
                self.context.move(sequence.id, move.source, move.target, move.length)
            stats.shifted_tokens = sum(move.length for move in moves)
            keep = reusable if moves else keep
        self.context.truncate(sequence.id, keep)
        if sequence.stale_from is not None:
            stats.extra["stale"] = sequence.stale  # still over a shifted block: the pause refreshes it
        if stats.shifted_tokens:
            cached[:] = tokens[:keep]
        else:
            del cached[keep:]  # the common prefix is already there: no copy per keystroke
        sequence.prompt_length = keep
        return sequence

    def _insert_plan(self, sequence: Sequence, tokens: list[int], keep: int):
        """The insert that would bring ``sequence`` to ``tokens`` within the staleness limit, or None."""
        if not self.context.inserts or keep >= sequence.prompt() or keep >= len(tokens) - 1:
            return None
        insert = plan_insert(sequence.tokens[:sequence.prompt()], tokens, keep)
        if insert is None or sequence.stale + insert.changed > STALE_LIMIT:
            return None
        if sequence.stale_from is not None and sequence.stale_from < keep:
            return None  # the edit is inside a block already shifted: evaluate from there
        return insert if len(insert.gap) <= self._free_cells(sequence) else None

    def _insert(self, sequence: Sequence, tokens: list[int], keep: int, stats: GenerationStats) -> bool:
        """Bring ``sequence`` to all of ``tokens`` but the last by decoding only the tokens that
        differ and shifting the cached end after them (see :meth:`place`); False if it does not apply."""
        insert = self._insert_plan(sequence, tokens, keep)
        if insert is None:
            return False
        context, number = self.context, sequence.id
        context.truncate(number, insert.block_end)  # the last prompt token, and what was generated after it
        context.remove(number, keep, insert.block_start)
        context.shift(number, insert.block_start, insert.block_end, insert.shift)
        del sequence.tokens[keep:]
        sequence.prompt_length = keep
        if insert.gap:
            try:
                context.decode_beside(number, insert.gap, keep)
            except NoRoom:
                context.truncate(number, keep)  # the moved block goes too: evaluated the usual way
                sequence.exact()
                logger.info("no room to insert %d tokens; the block after them is evaluated again", len(insert.gap))
                return False
            except Exception:
                self.reset()  # the cache state is unknown after a failed decode
                raise
        sequence.tokens[:] = tokens[:-1]
        sequence.prompt_length = len(tokens) - 1
        sequence.stale_from = insert.block_start + insert.shift
        sequence.stale += insert.changed
        stats.shifted_tokens = insert.block_end - insert.block_start
        stats.evaluated_tokens += len(insert.gap)
        stats.extra["stale"] = sequence.stale
        return True

    def refresh(self, chunk: int, abort: Callable[[], bool]) -> int:
        """Evaluate exactly what :meth:`_insert` shifted into place in the user's last prompt,
        beside it: the shifted positions stay until the exact ones replace them, so a keystroke
        that stops this loses nothing it had. Returns the tokens evaluated (0: nothing was stale);
        raises ``DecodeAborted`` when stopped and ``NoRoom`` without cells for the copy."""
        sequence = self.foreground
        if sequence.stale_from is None:
            return 0
        start, prompt = sequence.stale_from, sequence.tokens[:sequence.prompt()]
        if len(prompt) - start > self._free_cells(sequence):
            raise NoRoom(f"no free KV cells for an exact copy of {len(prompt) - start} tokens")
        self.context.decode_beside(sequence.id, prompt[start:], start, replace=True, chunk=chunk, abort=abort)
        del sequence.tokens[len(prompt):]  # what was generated after the prompt went with the shifted cells
        sequence.exact()
        return len(prompt) - start

    def decode(self, sequence: Sequence, chunk: list[int], abort: Callable[[], bool] | None = None, *,
               evict: bool = True) -> None:
        """Append ``chunk`` to ``sequence``; with ``evict``, other sequences make room if the cells are full."""
        if len(chunk) > self._free_cells(sequence):
            if not evict:
                raise NoRoom(f"no free KV cells for {len(chunk)} tokens beside the other prompts")
            self._evict_others(sequence)
        try:
            self.context.decode(sequence.id, chunk, abort)
        except (DecodeAborted, NoRoom):
            raise
        except Exception:
            # The cache state is unknown after a failed decode: start from scratch next time.
            self.reset()
            raise
        sequence.tokens.extend(chunk)

    def cut(self, sequence: Sequence, length: int) -> None:
        """Keep only the first ``length`` tokens of ``sequence`` (after an aborted chunk)."""
        self.context.truncate(sequence.id, length)
        del sequence.tokens[length:]
        if sequence.stale_from is not None and length <= sequence.stale_from:
            sequence.exact()

    def reset(self) -> None:
        """Empty the cache and the prompts saved from it."""
        self.context.clear()
        for sequence in self.sequences:
            sequence.forget()
        self.saved.clear()

    def _switch_saved(self, sequence: Sequence, tokens: list[int], stats: GenerationStats, *, evict: bool) -> int:
        """Before ``tokens`` replace the prompt ``sequence`` holds: copy that prompt to host memory
        if it is worth keeping, and bring back a saved prompt that shares more with ``tokens``
        (``evict``: even if other sequences must make room for it).
        Returns how many leading tokens of ``tokens`` the sequence then holds."""
        keep = common_prefix_length(sequence.tokens, tokens)
        prompt = sequence.prompt()
        if continues(sequence, keep) and keep >= SAVE_AT_LEAST:
            return keep  # the same prompt typed on: the keystroke path looks no further
        if not continues(sequence, keep):
            keep = self.reusable_in(sequence, tokens)  # shifts may reuse what the common prefix does not
        best = self.saved.best_for(tokens, keep)
        saved = self.saved.take(best) if best is not None else None  # before a new copy could evict it
        if self.saved.worth_saving(prompt, keep):
            self._save(sequence)
        if saved is not None and len(saved.tokens) > self._free_cells(sequence, replacing=True):
            if evict:
                self._evict_others(sequence)
            else:
                self.saved.keep(saved)
                saved = None
        if saved is None:
            return common_prefix_length(sequence.tokens, tokens)
        try:
            self.context.restore_sequence(sequence.id, saved.state)
        except NoRoom:
            logger.info("a saved prompt of %d tokens did not fit back into the cache", len(saved.tokens))
            sequence.forget()
            return 0
        sequence.tokens[:] = saved.tokens
        sequence.prompt_length = len(saved.tokens)
        sequence.exact()  # copies are made of exact positions only (see _save)
        stats.extra["restored"] = len(saved.tokens)
        return common_prefix_length(sequence.tokens, tokens)

    def _save(self, sequence: Sequence) -> None:
        """Copy a sequence's prompt to host memory (the tokens generated after it are dropped first)."""
        prompt = sequence.prompt() if sequence.stale_from is None else min(sequence.prompt(), sequence.stale_from)
        if len(sequence.tokens) > prompt:
            self.cut(sequence, prompt)  # (moved positions are not kept: a copy comes back as exact)
        if self.context.sequence_bytes(sequence.id) > self.saved.most_bytes:
            return  # a copy that large would take more host memory than all copies may
        self.saved.keep(SavedPrompt(list(sequence.tokens), self.context.save_sequence(sequence.id)))

    def _free_cells(self, sequence: Sequence, *, replacing: bool = False) -> int:
        """KV cells ``sequence`` can still take (all it holds too, when ``replacing`` its prompt)."""
        own = 0 if replacing else len(sequence.tokens)
        if self.context.split:
            return self.context.n_ctx - own
        return self.context.n_cells - own - sum(len(other.tokens) for other in self.sequences if other is not sequence)

    def _evict_others(self, sequence: Sequence) -> None:
        """Make room for ``sequence``: the other sequences' prompts go to host memory."""
        for other in self.sequences:
            if other is not sequence and other.tokens:
                if other.prompt() >= SAVE_AT_LEAST:
                    self._save(other)
                self.context.truncate(other.id, 0)
                other.forget()
