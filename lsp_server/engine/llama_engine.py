"""The llama.cpp completion engine: one model, one context, its KV cache, and generation.

Everything here runs on the single inference thread (see :mod:`lsp_server.engine.worker`).
The engine remembers which tokens each KV sequence holds and, for each new prompt, evaluates
only what follows the longest common prefix, so a keystroke that appends to the prompt costs a
few tokens instead of the whole prompt. Which sequence a prompt goes to is decided in
:mod:`lsp_server.engine.sequences`.
"""

from __future__ import annotations

import codecs
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lsp_server.engine.kv_reuse import common_prefix_length, plan_moves
from lsp_server.engine.native import (
    DecodeAborted,
    NativeContext,
    NativeModel,
    NoRoom,
    default_gpu_layers,
    flash_attention_for,
)
from lsp_server.engine.saved_prompts import SAVE_AT_LEAST, SavedPrompt, SavedPrompts
from lsp_server.engine.sequences import SEQUENCES, Sequence, choose, continues
from lsp_server.fim.formats import CompletionMode, detect_mode

logger = logging.getLogger(__name__)

PROMPT_CHUNK = 128
"""Tokens per decode call during prompt evaluation: cancellation is checked between chunks."""

_INFILL_MARKER = "☺"
_SPEED_SAMPLE = PROMPT_CHUNK
"""Only whole prompt chunks update the measured prefill speed: a short batch pays the fixed cost
of a decode call over few tokens, and learning from them made a cold file's first prompts
(a few dozen tokens each) look several times slower than a real prompt evaluates."""
_SPEED_WEIGHT = 0.3
"""Weight of the newest chunk in the moving average (recent chunks run at the current depth)."""
_PROBE_TOKENS = PROMPT_CHUNK + 8
SPARE_CELLS = 1024
"""In the unified layout, KV cells beyond ``n_ctx``, so that a full-size prompt and a short one
fit side by side (a shortened prompt is a few hundred tokens: the time budget's worth plus what
was typed since). Costs 1/8 more KV memory at an 8K context."""
SPLIT_KV_BYTES = 1 << 30
"""On the CPU, each sequence gets a KV stream of its own (see ``NativeContext``) when a second
stream costs at most this much memory: the bundled model's takes 190 MB at 8K, a 7B model's 4 GB.
Offloaded models keep the shared pool: a GPU attends over the other sequence's cells cheaply, and
its memory is scarcer."""


class VocabEncoder:
    """Encodes user text with control tokens disabled, with or without the leading space."""

    def __init__(self, model: NativeModel) -> None:
        self._model = model
        probe = model.tokenize("a")
        self.adds_space_prefix = bool(probe) and model.piece(probe[0]).startswith(b" ")
        self._marker = model.tokenize(_INFILL_MARKER) if self.adds_space_prefix else []

    def encode(self, text: str) -> list[int]:
        """Tokens for text at the start of a sequence."""
        return self._model.tokenize(text) if text else []

    def encode_infilling(self, text: str) -> list[int]:
        """Tokens without SentencePiece's implicit leading space (Code Llama's ``encode_infilling``)."""
        if not text or not self.adds_space_prefix:
            return self.encode(text)
        # Same trick as Meta's reference tokenizer: encode behind a marker, then drop it.
        tokens = self._model.tokenize(_INFILL_MARKER + text)
        return tokens[len(self._marker):]


@dataclass(frozen=True)
class GenerationParams:
    """How to generate one suggestion."""

    max_tokens: int = 128
    temperature: float = 0.0
    stop_tokens: frozenset[int] = frozenset()
    deadline: float | None = None
    """``time.monotonic()`` after which generation stops at the next newline."""
    forced_prefix: str = ""
    """Text the output must begin with (whitespace taken off the prompt by token healing)."""


@dataclass
class GenerationStats:
    """What one generation cost; logged per request and printed by the CLI."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    shifted_tokens: int = 0
    """Of the cached tokens, those moved into place from further along the cache."""
    evaluated_tokens: int = 0
    generated_tokens: int = 0
    prompt_ms: float = 0.0
    first_token_ms: float = 0.0
    total_ms: float = 0.0
    stop_reason: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float:
        """Generation speed after the first token."""
        seconds = (self.total_ms - self.first_token_ms) / 1000
        return (self.generated_tokens - 1) / seconds if self.generated_tokens > 1 and seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for logs and the terminal."""
        return (
            f"prompt={self.prompt_tokens} cached={self.cached_tokens} shifted={self.shifted_tokens} "
            f"evaluated={self.evaluated_tokens} "
            f"generated={self.generated_tokens} ttft_ms={self.first_token_ms:.0f} total_ms={self.total_ms:.0f} "
            f"tokens_per_s={self.tokens_per_second:.1f} stop={self.stop_reason}"
            + "".join(f" {key}={self.extra[key]}" for key in ("context", "restored") if key in self.extra)
        )


class Cancelled(Exception):
    """Prompt evaluation was cancelled; ``stats`` says how far it got."""

    def __init__(self, stats: GenerationStats) -> None:
        super().__init__("cancelled")
        self.stats = stats


class LlamaEngine:
    """Owns the model, its context and the record of what the KV cache holds."""

    def __init__(self, model_path: str, *, n_ctx: int = 0, n_gpu_layers: int | None = None, n_threads: int = 0,
                 rope_scale: float = 1.0, flash_attention: str = "auto", split_sequences: bool | None = None) -> None:
        """``split_sequences``: one KV stream per sequence or one shared pool (None: by ``SPLIT_KV_BYTES``)."""
        if n_gpu_layers is None:
            n_gpu_layers = default_gpu_layers()
        self.model = NativeModel(model_path, n_gpu_layers=n_gpu_layers)
        if n_ctx <= 0:
            n_ctx = int(min(self.model.n_ctx_train or 4096, 8192) * rope_scale)
        self.n_threads = n_threads or max(1, min(8, os.cpu_count() or 1))
        self.flash_attention = flash_attention_for(flash_attention, n_gpu_layers)
        self.context: NativeContext = self.model.new_context(n_ctx=n_ctx, n_threads=self.n_threads,
                                                             rope_freq_scale=1.0 / rope_scale,
                                                             flash_attention=self.flash_attention,
                                                             n_sequences=SEQUENCES,
                                                             **_kv_layout(self.model, n_ctx, split_sequences))
        self.encoder = VocabEncoder(self.model)
        self.model_name = self.model.metadata("general.name") or os.path.basename(model_path)
        self.architecture = self.model.metadata("general.architecture") or "unknown"
        self.sequences = [Sequence(number) for number in range(SEQUENCES)]
        self._current = self.sequences[0]
        """The sequence of the last evaluation: generation continues it."""
        self._foreground = self._current
        """The sequence of the user's last request: background work leaves its prompt whole."""
        self._uses = itertools.count(1)
        self.saved = SavedPrompts()
        self._prefill_tokens_per_s: float | None = None
        self._token_texts: list[str] | None = None
        self._consistent: dict[str, object] = {}
        self._modes: dict[tuple[str, str], CompletionMode] = {}
        self._special_text = {
            token: self.model.token_text(token)
            for token in (self.model.special.fim_pre, self.model.special.fim_suf, self.model.special.fim_mid)
            if token >= 0
        }

    @property
    def n_ctx(self) -> int:
        """Context size of the KV cache, in tokens."""
        return self.context.n_ctx

    def mode(self, fim: str = "auto", order: str = "auto") -> CompletionMode:
        """The completion mode for this model under the given settings (decided once per setting pair)."""
        key = (fim, order)
        if key not in self._modes:
            self._modes[key] = detect_mode(self.model.special, self._special_text, self.model_name, fim=fim, order=order)
        return self._modes[key]

    def bos_for_prefix_only(self) -> int | None:
        """BOS to start a prefix-only prompt with, if the vocabulary wants one."""
        special = self.model.special
        return special.bos if special.add_bos and special.bos >= 0 else None

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` the KV cache already holds in place (in any sequence)."""
        return max(common_prefix_length(sequence.tokens, tokens) for sequence in self.sequences)

    def reusable(self, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` a request's evaluation would take from the cache,
        shifts included: in the sequence it would use, not in whichever holds the most of them
        (a short prompt goes on in its own sequence even where a grown one holds more of it)."""
        reused: dict[int, int] = {}

        def reusable_in(sequence: Sequence) -> int:
            reused[sequence.id] = self._reusable_in(sequence, tokens)
            return reused[sequence.id]

        return reused[choose(self.sequences, reusable_in).id]

    def _reusable_in(self, sequence: Sequence, tokens: list[int]) -> int:
        keep = common_prefix_length(sequence.tokens, tokens)
        if keep < len(sequence.tokens) and keep < len(tokens) - 1 and self.context.can_shift():
            moves, reusable = plan_moves(sequence.tokens, tokens, keep)
            return reusable if moves else keep
        return keep

    def prefill_tokens_per_s(self) -> float:
        """Measured prompt-evaluation speed: a moving average over recent prompt chunks.

        Until a prompt chunk has been timed, a short probe is evaluated once and the cache emptied
        (before that point it held at most a few tokens per prompt, cheap to evaluate again).
        """
        if self._prefill_tokens_per_s is None:
            probe = self.encoder.encode("def probe(value):\n    return value\n" * 24)[:_PROBE_TOKENS]
            self.reset_cache()
            self._decode(self._current, probe[:8])  # the first decode allocates buffers: not a fair sample
            started = time.perf_counter()
            self._decode(self._current, probe[8:])
            self._prefill_tokens_per_s = (len(probe) - 8) / max(time.perf_counter() - started, 1e-6)
            self.reset_cache()
        return self._prefill_tokens_per_s

    def evaluate_prompt(self, tokens: list[int], cancel: threading.Event, stats: GenerationStats,
                        chunk_size: int = PROMPT_CHUNK, *, background: bool = False, may_evict: bool = True) -> None:
        """Bring a KV sequence to exactly ``tokens``, reusing the longest common prefix.

        Cancelled between chunks, the chunks already decoded stay cached for the next prompt.
        ``background`` work leaves the prompt of the user's last request whole (it goes to
        another sequence), and ``cancel`` also stops a chunk in the middle of its decode,
        within one operation of the graph instead of a whole chunk (about a second for 128
        tokens at an 8K depth on 2 CPU cores); only that chunk is lost. Background work that
        finds no free cells beside that prompt stops (``no_room``) unless ``may_evict``.
        """
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context ({self.n_ctx})")
        if cancel.is_set():  # before the cache is cut back: what it holds stays of use
            stats.prompt_tokens, stats.stop_reason = len(tokens), "cancelled"
            raise Cancelled(stats)
        sequence = choose(self.sequences, lambda candidate: self._reusable_in(candidate, tokens),
                          keep_whole=self._foreground if background else None)
        sequence.last_used = next(self._uses)
        self._current = sequence
        if not background:
            self._foreground = sequence
        keep = self._switch_saved(sequence, tokens, stats, evict=not background or may_evict)
        if keep == len(tokens):
            keep -= 1  # the last prompt token must be decoded again to get its logits
        cached = sequence.tokens
        if keep < len(cached) and self.context.can_shift():
            moves, reusable = plan_moves(cached, tokens, keep)
            for move in moves:
                self.context.move(sequence.id, move.source, move.target, move.length)
            stats.shifted_tokens = sum(move.length for move in moves)
            keep = reusable if moves else keep
        self.context.truncate(sequence.id, keep)
        if stats.shifted_tokens:
            cached[:] = tokens[:keep]
        else:
            del cached[keep:]  # the common prefix is already there: no copy per keystroke
        stats.prompt_tokens, stats.cached_tokens = len(tokens), keep
        sequence.prompt_length = keep
        started = time.perf_counter()
        start = keep
        while start < len(tokens):
            if cancel.is_set():
                stats.stop_reason = "cancelled"
                stats.prompt_ms = (time.perf_counter() - started) * 1000
                raise Cancelled(stats)
            chunk = tokens[start:start + chunk_size]
            chunk_started = time.perf_counter()
            try:
                self._timed_decode(sequence, chunk, cancel.is_set if background else None,
                                   evict=not background or may_evict)
            except (DecodeAborted, NoRoom) as stopped:
                # llama.cpp removed the chunk's positions (or never placed them); what came
                # before it stays cached.
                self.context.truncate(sequence.id, start)
                del cached[start:]
                stats.stop_reason = "cancelled" if isinstance(stopped, DecodeAborted) else "no_room"
                stats.prompt_ms = (time.perf_counter() - started) * 1000
                raise Cancelled(stats) from None
            stats.evaluated_tokens += len(chunk)
            start += len(chunk)
            sequence.prompt_length = start
            # A background chunk stopped by a keystroke is lost. Doubled once this gap has lasted
            # twice what the doubled chunk will take, a chunk risks at most what the gap already
            # got done, and a pause in typing reaches full-size chunks, which cost about 30% less
            # per token than 8-token ones at a 2K depth.
            now = time.perf_counter()
            if background and now - started >= 4 * (now - chunk_started):
                chunk_size = min(2 * chunk_size, PROMPT_CHUNK)
        stats.prompt_ms = (time.perf_counter() - started) * 1000

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
            keep = self._reusable_in(sequence, tokens)  # shifts may reuse what the common prefix does not
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
        stats.extra["restored"] = len(saved.tokens)
        return common_prefix_length(sequence.tokens, tokens)

    def _save(self, sequence: Sequence) -> None:
        """Copy a sequence's prompt to host memory (the tokens generated after it are dropped first)."""
        prompt = sequence.prompt()
        if len(sequence.tokens) > prompt:
            self.context.truncate(sequence.id, prompt)
            del sequence.tokens[prompt:]
        if self.context.sequence_bytes(sequence.id) > self.saved.most_bytes:
            return  # a copy that large would take more host memory than all copies may
        self.saved.keep(SavedPrompt(list(sequence.tokens), self.context.save_sequence(sequence.id)))

    def _free_cells(self, sequence: Sequence, *, replacing: bool = False) -> int:
        """KV cells ``sequence`` can still take (all it holds too, when ``replacing`` its prompt)."""
        own = 0 if replacing else len(sequence.tokens)
        if self.context.split:
            return self.n_ctx - own
        return self.context.n_cells - own - sum(len(other.tokens) for other in self.sequences if other is not sequence)

    def _evict_others(self, sequence: Sequence) -> None:
        """Make room for ``sequence``: the other sequences' prompts go to host memory."""
        for other in self.sequences:
            if other is not sequence and other.tokens:
                if other.prompt() >= SAVE_AT_LEAST:
                    self._save(other)
                self.context.truncate(other.id, 0)
                other.forget()

    def generate(
        self,
        tokens: list[int],
        params: GenerationParams,
        cancel: threading.Event,
        on_text: Callable[[str], bool],
    ) -> GenerationStats:
        """Evaluate the prompt and sample until a stop; ``on_text(text_so_far)`` returns False to stop."""
        stats = GenerationStats()
        started = time.perf_counter()
        self.evaluate_prompt(tokens, cancel, stats)
        sampler = self.context.new_sampler(temperature=params.temperature)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = ""
        pending = params.forced_prefix
        try:
            stats.stop_reason = "max_tokens"
            for _ in range(params.max_tokens):
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    break
                if pending:
                    token = self._best_consistent(pending)
                    piece = self.token_texts()[token]
                    pending = pending[len(piece):] if pending.startswith(piece) else ""
                else:
                    token = sampler.sample()
                if not stats.generated_tokens:
                    stats.first_token_ms = (time.perf_counter() - started) * 1000
                stats.generated_tokens += 1
                if self.model.is_end_of_generation(token) or token in params.stop_tokens:
                    stats.stop_reason = "end_of_text"
                    break
                text += decoder.decode(self.model.piece(token))
                if not on_text(text):
                    stats.stop_reason = "complete"
                    break
                if params.deadline is not None and text.endswith("\n") and time.monotonic() > params.deadline:
                    stats.stop_reason = "deadline"
                    break
                if len(self._current.tokens) + 1 >= self.n_ctx:
                    stats.stop_reason = "context_full"
                    break
                self._decode(self._current, [token])
        finally:
            sampler.close()
        stats.total_ms = (time.perf_counter() - started) * 1000
        return stats

    def token_texts(self) -> list[str]:
        """Every token's text (for constrained decoding); built once, on first use or at load."""
        if self._token_texts is None:
            self._token_texts = [self.model.piece(token).decode("utf-8", "replace") for token in range(self.model.n_vocab)]
        return self._token_texts

    def _best_consistent(self, pending: str) -> int:
        """The likeliest token that agrees with ``pending`` (is a prefix of it or starts with it)."""
        import numpy as np

        allowed = self._consistent.get(pending)
        if allowed is None:
            allowed = np.array([token for token, text in enumerate(self.token_texts())
                                if text and (pending.startswith(text) or text.startswith(pending))], dtype=np.int64)
            if len(self._consistent) > 64:
                self._consistent.clear()
            self._consistent[pending] = allowed
        if not len(allowed):
            raise ValueError(f"no token of the vocabulary starts with {pending!r}")
        logits = self.context.last_logits()
        return int(allowed[int(logits[allowed].argmax())])

    def log_probs(self, prompt: list[int], continuation: list[int]) -> list[float]:
        """Log-probability of each continuation token after ``prompt`` (teacher forcing)."""
        import numpy as np

        self.evaluate_prompt(prompt, threading.Event(), GenerationStats())
        result = []
        for token in continuation:
            logits = self.context.last_logits().astype(np.float64)
            peak = logits.max()
            result.append(float(logits[token] - peak - np.log(np.exp(logits - peak).sum())))
            self._decode(self._current, [token])
        return result

    def reset_cache(self) -> None:
        """Empty the KV cache and the prompts saved from it (measurements that must start cold)."""
        self.context.clear()
        for sequence in self.sequences:
            sequence.forget()
        self.saved.clear()

    def _timed_decode(self, sequence: Sequence, chunk: list[int], abort: Callable[[], bool] | None = None, *,
                      evict: bool = True) -> None:
        started = time.perf_counter()
        self._decode(sequence, chunk, abort, evict=evict)
        if len(chunk) >= _SPEED_SAMPLE:
            speed = len(chunk) / max(time.perf_counter() - started, 1e-6)
            known = self._prefill_tokens_per_s
            self._prefill_tokens_per_s = speed if known is None else known + _SPEED_WEIGHT * (speed - known)

    def _decode(self, sequence: Sequence, chunk: list[int], abort: Callable[[], bool] | None = None, *,
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
            self.reset_cache()
            raise
        sequence.tokens.extend(chunk)

    def close(self) -> None:
        """Free the context and the model."""
        self.context.close()
        self.model.close()


def _kv_layout(model: NativeModel, n_ctx: int, split: bool | None) -> dict:
    """The KV layout's context arguments: split streams, or a shared pool with spare cells."""
    if split is None:
        split = model.n_gpu_layers == 0 and model.kv_bytes_per_token() * n_ctx <= SPLIT_KV_BYTES
    return {"split": True} if split else {"spare_cells": min(SPARE_CELLS, n_ctx // 4)}
