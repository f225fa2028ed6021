"""One suggestion's request and result: plain values that cross from the server to the
inference thread and back."""

from __future__ import annotations

import dataclasses
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
    speculative: bool = False
    """Computed ahead for the text after an acceptance: the next line is a fine suggestion, and
    the prompt must extend the one the user's last request left in the cache (a speculation that
    rearranged the cache would make the user's next keystroke re-evaluate it)."""
    cursor: CursorSnapshot = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    """The cursor facts every stage of this request reads: the server's snapshot of the
    keystroke (:meth:`of`), else taken here from ``prefix`` and ``suffix``."""

    def __post_init__(self) -> None:
        cursor = self.cursor
        if cursor is None or cursor.prefix is not self.prefix or cursor.suffix is not self.suffix:
            object.__setattr__(self, "cursor", CursorSnapshot.of(self.prefix, self.suffix, self.document))

    @classmethod
    def of(cls, cursor: CursorSnapshot, settings: CompletionSettings, **fields) -> CompletionRequest:
        """The request for a snapshot already taken (its text, its document; nothing split again)."""
        return cls(cursor.prefix, cursor.suffix, settings, document=cursor.document, cursor=cursor, **fields)

    def at(self, prefix: str, **changes) -> CompletionRequest:
        """The same request for the text ``prefix`` before the cursor (a snapshot of its own)."""
        return dataclasses.replace(self, prefix=prefix, cursor=None, **changes)


@dataclass(frozen=True)
class CompletionResult:
    """A finished suggestion, or an empty one with the named reason."""

    text: str
    mode: str
    stats: GenerationStats | None = None
    reason: str = ""
    shortened: bool = False
    """The prompt was cut to the time budget (see ``PromptPlanner``): the full one is still to warm."""
    scores: tuple[tuple[int, float], ...] = ()
    """Per token that wrote ``text``: where in ``text`` it ends, and its log-probability (empty
    when the engine sends none). What the confidence gate judges (``gate.token_scores``)."""
