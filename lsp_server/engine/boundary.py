"""The engine boundary: what the completer asks of a model, and nothing more.

Prompt building, budgets, repository context, post-processing, type-through and speculation
sit above this seam; an engine below it tokenizes, evaluates, generates and says what its KV
cache already holds. :class:`~infill_lsp.engine.llama_engine.LlamaEngine` runs llama.cpp in this
process; :class:`~infill_lsp.engine.remote_engine.RemoteEngine` sends the same token prompts to an
inference server (llama-server, or an OpenAI-compatible one such as vLLM).
Every method runs on the inference thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

from infill_lsp.engine.generation import GenerationParams, GenerationStats
from infill_lsp.fim.blocks import TextEncoder
from infill_lsp.fim.formats import CompletionMode
from infill_lsp.fim.healing import PieceTable


class Engine(Protocol):
    """A model that completes token prompts and keeps what it evaluated cached."""

    encoder: TextEncoder
    """Tokenization of user text (control tokens disabled)."""
    location: str
    """Where the model runs: ``in-process``, or the inference server's origin."""
    problem: str | None
    """Why the engine cannot serve now (an inference server that is down), else None."""

    @property
    def n_ctx(self) -> int:
        """Most tokens one sequence holds (prompt and generation)."""
        ...

    def mode(self, fim: str = "auto", order: str = "auto") -> CompletionMode:
        """The prompt layout this model takes under the given settings."""
        ...

    def bos_for_prefix_only(self) -> int | None:
        """BOS to start a prefix-only prompt with, if the vocabulary wants one."""
        ...

    def pieces(self) -> PieceTable:
        """Every token's bytes (what token healing backs off and constrains)."""
        ...

    def prefill_tokens_per_s(self) -> float:
        """Prompt tokens evaluated per second (what a prompt's time budget is counted in)."""
        ...

    def describe(self) -> str:
        """One line for the log: the model, where it runs, how fast it evaluates prompts."""
        ...

    def ready(self) -> None:
        """Do the one-time work the first keystroke would otherwise pay for."""
        ...

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``, control tokens written out (for debug logs)."""
        ...

    def reusable(self, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` a foreground evaluation would take from the cache."""
        ...

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` the cache holds in place, in any sequence."""
        ...

    def evaluate_prompt(self, tokens: list[int], cancel: threading.Event, stats: GenerationStats,
                        chunk_size: int = ..., *, background: bool = False, may_evict: bool = True) -> None:
        """Bring the cache to ``tokens`` without generating (raises ``Cancelled`` when stopped)."""
        ...

    def refresh(self, cancel: threading.Event) -> GenerationStats:
        """Evaluate exactly what the cache shifted into place for the user's last request (background)."""
        ...

    def generate(self, tokens: list[int], params: GenerationParams, cancel: threading.Event,
                 stats: GenerationStats) -> Iterator[str]:
        """Evaluate ``tokens``, then yield the text each sampled token adds until a stop (end of
        text, ``max_tokens``, the deadline, ``cancel``). Closing the stream stops generation
        before the next token (``stop_reason`` ``complete``); ``stats`` holds what it cost once
        the stream ends. Raises ``Cancelled`` if stopped while the prompt is evaluated."""
        ...


def run_to_end(engine: Engine, tokens: list[int], params: GenerationParams,
               cancel: threading.Event | None = None) -> tuple[str, GenerationStats]:
    """A whole generation, for callers that show nothing before its end: its text and cost."""
    stats = GenerationStats()
    text = "".join(engine.generate(tokens, params, cancel or threading.Event(), stats))
    return text, stats
