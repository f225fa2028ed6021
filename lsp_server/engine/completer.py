"""The completion pipeline shared by the language server and the CLI.

request → prompt (``prompt_planner``) → the engine's stream of pieces → shaped, token by token
(``postprocess.shaping``) → suggestion. :meth:`LlamaCompleter.stream` yields each value as it
is made; nothing calls back up.
``Completer`` is the seam: the server and the CLI only know this protocol, so a test
can drive them with any model file or engine without patching internals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from typing import Protocol

from infill_lsp.engine.boundary import Engine
from infill_lsp.engine.generation import Cancelled, EngineUnavailable, GenerationParams, GenerationStats
from infill_lsp.engine.prompt_planner import PromptPlanner, Retriever
from infill_lsp.engine.request import CompletionRequest, CompletionResult
from infill_lsp.fim.formats import CompletionMode
from infill_lsp.fim.postprocess import Shaped, cursor_line, shaping
from infill_lsp.fim.prompt import Prompt
from infill_lsp.gate import token_scores
from infill_lsp.settings import CompletionSettings

logger = logging.getLogger(__name__)

GROWTH_CHUNK = 8
"""Tokens per decode call when a full prompt grows in the background: about 40 ms of the bundled
model on 2 cores, so that a chunk ends in the gap between two keystrokes (a keystroke aborts
the chunk in progress, and only that chunk is lost)."""

HEALING_ORIGINAL_BIAS = 7.0
"""Nats added to the prompt's own spelling of the text token healing took off, while the first
tokens follow it. At a cut between two tokens of the finished word (``get`` of ``get_style``)
that spelling is right and tells the model where the token ends, and a longer token the model
prefers (``getattr``) would be wrong; inside a token (``per`` + ``i``) the spelling is one the
model finds all but impossible, and a longer token (``imeter``) wins anyway. With 7, boundary
cuts finished 0.800 of names against 0.844 unhealed (the interval reaches 0), and without the
bias 0.667; mid-token cuts 0.135 against 0.256 without it (docs/benchmarks.md, "Names typed one
character at a time")."""


class Completer(Protocol):
    """What the server and CLI need from a model. Methods run on the inference thread."""

    def stream(self, request: CompletionRequest, cancel: threading.Event) -> Iterator[Shaped | CompletionResult]:
        """One suggestion as it grows: a :class:`Shaped` after each token, then the finished
        :class:`CompletionResult`, always last. ``cancel`` (or closing the stream) stops it
        within a token."""
        ...

    def prompt(self, request: CompletionRequest, *, within_budget: bool = True) -> tuple[Prompt, CompletionMode]:
        """The exact prompt ``complete`` would evaluate, and the mode that shaped it."""
        ...

    def warm(self, request: CompletionRequest, cancel: threading.Event, *, beside: bool = True) -> GenerationStats:
        """Evaluate the full prompt of ``request`` into the cache without generating (background).
        ``beside``: never evict the prompt of the user's last request to find room."""
        ...

    def refresh(self, cancel: threading.Event) -> GenerationStats:
        """Make the last request's cached prompt exact where typing shifted it into place (background)."""
        ...


class LlamaCompleter:
    """``Completer`` over a llama.cpp engine, with repository context from ``retriever``."""

    def __init__(self, engine: Engine, retriever: Retriever | None = None, *,
                 prefill_speed: Callable[[], float] | None = None) -> None:
        """``prefill_speed``: prompt tokens evaluated per second (default: the engine's measurement)."""
        self.engine = engine
        self.planner = PromptPlanner(engine, retriever, prefill_speed or engine.prefill_tokens_per_s)
        self._foreground_prompt = 0

    def mode(self, settings: CompletionSettings) -> CompletionMode:
        """The prompt layout under the ``fim`` and ``fimOrder`` settings."""
        return self.engine.mode(settings.fim, settings.fim_order)

    def prompt(self, request: CompletionRequest, *, within_budget: bool = True) -> tuple[Prompt, CompletionMode]:
        """The prompt :meth:`complete` would evaluate (see ``PromptPlanner.prompt``), and its mode."""
        mode = self.mode(request.settings)
        return self.planner.prompt(request, mode, within_budget=within_budget), mode

    def warm(self, request: CompletionRequest, cancel: threading.Event, *, beside: bool = True) -> GenerationStats:
        """Evaluate the full prompt of ``request`` into the KV cache, so the next keystroke finds it
        there (see ``PromptPlanner.full_to_grow``). ``beside``: only into free cells, never
        evicting the prompt the user's last request used (``no_room`` when they are full).
        """
        mode = self.mode(request.settings)
        tokens, parts = self.planner.full_to_grow(request, mode)
        stats = GenerationStats(prompt_tokens=len(tokens))
        if not tokens or cancel.is_set():
            stats.stop_reason = "cancelled" if cancel.is_set() else "empty_prompt"
            return stats
        try:
            self.engine.evaluate_prompt(tokens, cancel, stats, GROWTH_CHUNK, background=True, may_evict=not beside)
            stats.stop_reason = "warmed"
            self.planner.grown(request, mode, parts)
        except Cancelled as stopped:
            stats = stopped.stats
        except EngineUnavailable:  # logged by the engine when it began; the status says why
            stats.stop_reason = "engine_unavailable"
        return stats

    def refresh(self, cancel: threading.Event) -> GenerationStats:
        """See ``Engine.refresh``."""
        return self.engine.refresh(cancel)

    def complete(self, request: CompletionRequest, cancel: threading.Event | None = None) -> CompletionResult:
        """The finished suggestion of :meth:`stream` (for callers that show nothing before it)."""
        *_partials, result = self.stream(request, cancel or threading.Event())
        return result

    def stream(self, request: CompletionRequest, cancel: threading.Event) -> Iterator[Shaped | CompletionResult]:
        """Run the whole pipeline for one request: prompt, generation, shaping (see the protocol)."""
        settings = request.settings
        mode = self.mode(settings)
        prompt = self.planner.prompt(request, mode)
        if not prompt.tokens:
            yield CompletionResult("", mode.name, reason="empty_prompt")
            return
        if logger.isEnabledFor(logging.DEBUG):  # prompts hold the user's code: debug level only
            logger.debug("prompt id=%s tokens=%d text=%r", request.label, len(prompt.tokens),
                         self.engine.detokenize(prompt.tokens))
        if request.speculative and self.engine.cached_prefix(prompt.tokens) < self._foreground_prompt - 1:
            yield CompletionResult("", mode.name, reason="would_rearrange_cache")
            return
        stats = GenerationStats(prompt_tokens=len(prompt.tokens))
        if cancel.is_set():
            stats.stop_reason = "cancelled"
            logger.info("generation cancelled before it started: %s", stats.summary())
            yield CompletionResult("", mode.name, stats, reason="cancelled", shortened=prompt.shortened)
            return
        line = cursor_line(request.cursor, settings.multiline, speculative=request.speculative,
                           rules_off=settings.rules_off)
        params = GenerationParams(
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            stop_tokens=mode.fim.stop_tokens if mode.fim else frozenset(),
            deadline=time.monotonic() + settings.time_budget_ms / 1000,
            forced_prefix=prompt.forced,
            forced_tokens=prompt.forced_tokens,
            original_bias=HEALING_ORIGINAL_BIAS,
            keep_scores=settings.confidence != "off",
        )
        if not request.speculative:
            self._foreground_prompt = len(prompt.tokens)
        shaped = Shaped("", True, 0)
        try:
            with closing(self.engine.generate(prompt.tokens, params, cancel, stats)) as pieces:
                for shaped in shaping(pieces, line, prompt.forced):
                    if not shaped.done:
                        yield replace(shaped, scores=token_scores(stats.scores, len(prompt.forced), shaped.text)) \
                            if params.keep_scores else shaped
        except Cancelled as stopped:
            stats = stopped.stats
        except EngineUnavailable:
            yield CompletionResult("", mode.name, reason="engine_unavailable", shortened=prompt.shortened)
            return
        stats.extra["context"] = prompt.n_context_tokens
        if stats.stop_reason == "cancelled":
            logger.info("generation cancelled: %s", stats.summary())
            yield CompletionResult("", mode.name, stats, reason="cancelled", shortened=prompt.shortened)
            return
        text = shaped.text
        yield CompletionResult(text, mode.name, stats, reason="" if text.strip() else "empty_suggestion",
                               shortened=prompt.shortened,
                               scores=token_scores(stats.scores, len(prompt.forced), text))
