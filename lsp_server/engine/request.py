"""One suggestion's request and result: plain values that cross from the server to the
inference thread and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from infill_lsp.context import CursorSnapshot
from infill_lsp.engine.generation import GenerationStats
from infill_lsp.settings import CompletionSettings


@dataclass(frozen=True)
class CompletionRequest:
    """Everything one suggestion depends on (a snapshot: no live document objects)."""

    prefix: str
    suffix: str
    settings: CompletionSettings
    path: str = ""
    """The document's workspace-relative path (file header in repository context)."""
    repo: str = ""
    """The workspace folder's name (``<repo_name>`` for models that have it)."""
    document: Path | None = None
    """The document's file, around which repository context is gathered."""
    context_tokens: int = 0
    """Most tokens of repository context (``infill_lsp.context.maxTokens``; 0 for none)."""
    label: str = ""
    """Names the request in debug logs (the server's request id)."""
    after_accept: bool = False
    """Computed ahead for the text after an acceptance: the next line is a fine suggestion, and
    the prompt must extend the one the user's last request left in the cache (a speculation that
    rearranged the cache would make the user's next keystroke re-evaluate it)."""
    cursor: CursorSnapshot = field(init=False, repr=False, compare=False)
    """The cursor facts, computed once for every stage of this request."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cursor", CursorSnapshot.of(self.prefix, self.suffix, self.document))


@dataclass(frozen=True)
class CompletionResult:
    """A finished suggestion, or an empty one with the named reason."""

    text: str
    mode: str
    stats: GenerationStats | None = None
    reason: str = ""
    shortened: bool = False
    """The prompt was cut to the time budget (see ``PromptPlanner``): the full one is still to warm."""
    logprobs: tuple[float, ...] = ()
    """Log-probabilities of the tokens that wrote the first line of ``text`` (empty when the
    engine sends none): what the confidence gate judges."""
