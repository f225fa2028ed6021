"""What one generation is asked to do and what it cost: plain values shared by the engine,
the KV cache and the completer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenerationParams:
    """How to generate one suggestion."""

    max_tokens: int = 128
    temperature: float = 0.0
    stop_tokens: frozenset[int] = frozenset()
    deadline: float | None = None
    """``time.monotonic()`` after which generation stops at the next newline."""
    forced_prefix: str = ""
    """Text the output must begin with (what token healing took off the prompt)."""
    forced_tokens: tuple[int, ...] = ()
    """The tokens that spelled ``forced_prefix`` in the prompt."""
    original_bias: float = 0.0
    """Added to the logit of the next of ``forced_tokens`` while the choices follow them."""
    keep_scores: bool = False
    """Keep each generated token's log-probability (``GenerationStats.scores``): a log-softmax
    over the vocabulary per token, about 0.2 ms on 2 cores, paid only when the gate reads them."""


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
    scores: list[tuple[int, float]] = field(default_factory=list)
    """Per generated token, when ``GenerationParams.keep_scores``: the length of the text once it
    was added, and its log-probability (natural log, under the logits it was chosen from). The
    confidence gate reads them; empty from a server that sends no probabilities."""
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


class EngineUnavailable(Exception):
    """The inference server cannot be reached or refused the request; the message says which."""
