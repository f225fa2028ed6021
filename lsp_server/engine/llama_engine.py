"""The llama.cpp completion engine: one model, one context, its KV cache, and generation.

Everything here runs on the single inference thread (see :mod:`infill_lsp.inference`).
For each new prompt the engine evaluates only what the KV cache does not already hold
(:mod:`infill_lsp.engine.kv_cache` keeps that record), so a keystroke that appends to the prompt
costs a few tokens instead of the whole prompt; it then samples, token by token, within the
constraints token healing sets.
"""

from __future__ import annotations

import codecs
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from infill_lsp.engine.generation import Cancelled, GenerationParams, GenerationStats
from infill_lsp.engine.kv_cache import KvCache
from infill_lsp.engine.native import DecodeAborted, NativeContext, NativeModel, NoRoom
from infill_lsp.engine.native_backend import default_gpu_layers, flash_attention_for
from infill_lsp.engine.sampling import Sampler
from infill_lsp.engine.sequences import SEQUENCES, Sequence
from infill_lsp.engine.vocabulary import Vocabulary, VocabularyFacts
from infill_lsp.fim.formats import CompletionMode

logger = logging.getLogger(__name__)

PROMPT_CHUNK = 128
"""Tokens per decode call during prompt evaluation: cancellation is checked between chunks."""

REFRESH_CHUNK = 16
"""Tokens per decode call of a background refresh: a keystroke aborts the chunk in progress."""
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


class LlamaEngine(VocabularyFacts):
    """The in-process :class:`~infill_lsp.engine.boundary.Engine`: owns the model, its context and
    the record of what the KV cache holds."""

    def __init__(self, model_path: str, *, n_ctx: int = 0, n_gpu_layers: int | None = None, n_threads: int = 0,
                 rope_scale: float = 1.0, flash_attention: str = "auto", split_sequences: bool | None = None) -> None:
        """``split_sequences``: one KV stream per sequence or one shared pool (None: by ``SPLIT_KV_BYTES``)."""
        if n_gpu_layers is None:
            n_gpu_layers = default_gpu_layers()
        self.model = NativeModel(model_path, n_gpu_layers=n_gpu_layers)
        self.vocabulary = Vocabulary(self.model)
        if n_ctx <= 0:
            n_ctx = int(min(self.model.n_ctx_train or 4096, 8192) * rope_scale)
        self.n_threads = n_threads or max(1, min(8, os.cpu_count() or 1))
        self.flash_attention = flash_attention_for(flash_attention, n_gpu_layers)
        self.context: NativeContext = self.model.new_context(n_ctx=n_ctx, n_threads=self.n_threads,
                                                             rope_freq_scale=1.0 / rope_scale,
                                                             flash_attention=self.flash_attention,
                                                             n_sequences=SEQUENCES,
                                                             **_kv_layout(self.model, n_ctx, split_sequences,
                                                                          self.vocabulary.mode()))
        self.location = "in-process"
        self.problem: str | None = None
        self.encoder = self.vocabulary.encoder
        self.model_name = self.vocabulary.model_name
        self.architecture = self.vocabulary.architecture
        self.kv = KvCache(self.context)
        self._prefill_tokens_per_s: float | None = None
        self._consistent: dict[bytes, object] = {}

    @property
    def n_ctx(self) -> int:
        """Context size of the KV cache, in tokens."""
        return self.context.n_ctx

    def describe(self) -> str:
        """One line for the log: the model, where it runs and how fast it evaluates prompts."""
        return (f"{self.model_name} ({self.model.description()}), n_ctx={self.n_ctx}, kv="
                f"{'a stream per sequence' if self.context.split else 'one shared pool'}, "
                f"gpu_layers={self.model.n_gpu_layers}, flash_attention={self.flash_attention}, "
                f"prefill {self.prefill_tokens_per_s():.0f} tokens/s")

    def ready(self) -> None:
        """The one-time work the first keystroke would otherwise pay: token pieces for healing,
        the prefill speed for the first prompt's time budget."""
        self.pieces()
        self.prefill_tokens_per_s()

    def reusable(self, tokens: list[int]) -> int:
        """See ``KvCache.reusable``."""
        return self.kv.reusable(tokens)

    def cached_prefix(self, tokens: list[int]) -> int:
        """See ``KvCache.cached_prefix``."""
        return self.kv.cached_prefix(tokens)

    def prefill_tokens_per_s(self) -> float:
        """Measured prompt-evaluation speed: a moving average over recent prompt chunks.

        Until a prompt chunk has been timed, a short probe is evaluated once and the cache emptied
        (before that point it held at most a few tokens per prompt, cheap to evaluate again).
        """
        if self._prefill_tokens_per_s is None:
            probe = self.encoder.encode("def probe(value):\n    return value\n" * 24)[:_PROBE_TOKENS]
            self.reset_cache()
            self.kv.decode(self.kv.current, probe[:8])  # the first decode allocates buffers: not a fair sample
            started = time.perf_counter()
            self.kv.decode(self.kv.current, probe[8:])
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
        sequence = self.kv.place(tokens, stats, background=background, may_evict=may_evict)
        keep = len(sequence.tokens)
        # (an insert decoded the typed tokens already: they count as evaluated, not cached)
        stats.prompt_tokens, stats.cached_tokens = len(tokens), keep - stats.evaluated_tokens
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
                self.kv.cut(sequence, start)
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

    def generate(self, tokens: list[int], params: GenerationParams, cancel: threading.Event,
                 stats: GenerationStats) -> Iterator[str]:
        """Evaluate the prompt, then yield the text of each sampled token until a stop; closing the
        stream stops at once (``complete``). ``stats`` says what it cost when the stream ends."""
        started = time.perf_counter()
        self.evaluate_prompt(tokens, cancel, stats)
        sampler = Sampler(self.context, temperature=params.temperature)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        ends_line = False
        pending = params.forced_prefix.encode("utf-8")
        original = list(params.forced_tokens)  # the prompt's own spelling, while the choices follow it
        text_length = 0
        try:
            stats.stop_reason = "max_tokens"
            for _ in range(params.max_tokens):
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    break
                if pending:
                    token = self._best_consistent(pending, original[0] if original else None, params.original_bias)
                    piece = self.pieces().pieces[token]
                    pending = pending[len(piece):] if pending.startswith(piece) else b""
                    original = original[1:] if original and original[0] == token else []
                else:
                    token = sampler.sample()
                if not stats.generated_tokens:
                    stats.first_token_ms = (time.perf_counter() - started) * 1000
                stats.generated_tokens += 1
                if self.model.is_end_of_generation(token) or token in params.stop_tokens:
                    stats.stop_reason = "end_of_text"
                    break
                text = decoder.decode(self.model.piece(token))
                text_length += len(text)
                ends_line = text.endswith("\n") if text else ends_line
                if params.keep_scores:
                    stats.scores.append((text_length, self.context.last_logprob(token)))
                stats.stop_reason = "complete"  # if the reader closes the stream here
                yield text
                stats.stop_reason = "max_tokens"
                if params.deadline is not None and ends_line and time.monotonic() > params.deadline:
                    stats.stop_reason = "deadline"
                    break
                if len(self.kv.current.tokens) + 1 >= self.n_ctx:
                    stats.stop_reason = "context_full"
                    break
                self.kv.decode(self.kv.current, [token])
        finally:
            sampler.close()
            stats.total_ms = (time.perf_counter() - started) * 1000

    def _best_consistent(self, pending: bytes, preferred: int | None = None, bias: float = 0.0) -> int:
        """The likeliest token that agrees with ``pending`` (is a prefix of it or starts with it),
        with ``bias`` added to the logit of ``preferred``."""
        import numpy as np

        allowed = self._consistent.get(pending)
        if allowed is None:
            allowed = np.array(self.pieces().consistent(pending), dtype=np.int64)
            if len(self._consistent) > 64:
                self._consistent.clear()
            self._consistent[pending] = allowed
        if not len(allowed):
            raise ValueError(f"no token of the vocabulary starts with {pending!r}")
        logits = self.context.last_logits()
        scores = logits[allowed]
        if preferred is not None and bias:
            scores = scores + np.where(allowed == preferred, bias, 0.0)
        return int(allowed[int(scores.argmax())])

    def refresh(self, cancel: threading.Event) -> GenerationStats:
        """Evaluate exactly the part of the user's last prompt that typing shifted into place (see
        ``KvCache.refresh``), in the background: the next keystroke then starts from exact values."""
        stats = GenerationStats()
        started = time.perf_counter()
        try:
            stats.evaluated_tokens = self.kv.refresh(REFRESH_CHUNK, cancel.is_set)
            stats.stop_reason = "refreshed" if stats.evaluated_tokens else "exact"
        except DecodeAborted:
            stats.stop_reason = "cancelled"
        except NoRoom:
            stats.stop_reason = "no_room"
        stats.prompt_ms = (time.perf_counter() - started) * 1000
        return stats

    def reset_cache(self) -> None:
        """Empty the KV cache and the prompts saved from it (measurements that must start cold)."""
        self.kv.reset()

    def _timed_decode(self, sequence: Sequence, chunk: list[int], abort: Callable[[], bool] | None = None, *,
                      evict: bool = True) -> None:
        started = time.perf_counter()
        self.kv.decode(sequence, chunk, abort, evict=evict)
        if len(chunk) >= _SPEED_SAMPLE:
            speed = len(chunk) / max(time.perf_counter() - started, 1e-6)
            known = self._prefill_tokens_per_s
            self._prefill_tokens_per_s = speed if known is None else known + _SPEED_WEIGHT * (speed - known)

    def close(self) -> None:
        """Free the context and the model."""
        self.context.close()
        self.model.close()


def _kv_layout(model: NativeModel, n_ctx: int, split: bool | None, mode: CompletionMode) -> dict:
    """The KV layout's context arguments: split streams, or a shared pool with spare cells.

    A model prompted in PSM by default takes the shared pool: only there can the tokens typed
    at the end of the prefix be decoded before the cached suffix (``NativeContext.decode_beside``),
    which saves evaluating the whole suffix again at every keystroke."""
    psm = mode.fim is not None and mode.fim.order == "psm"
    if split is None:
        split = model.n_gpu_layers == 0 and model.kv_bytes_per_token() * n_ctx <= SPLIT_KV_BYTES and not psm
    return {"split": True} if split else {"spare_cells": min(SPARE_CELLS, n_ctx // 4)}
