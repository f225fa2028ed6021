"""One request's view of the document at the cursor, taken once and read by every stage.

The language server takes it when a request arrives; retrieval, prompt building and
post-processing read its facts instead of splitting the text again. Lines are counted as LSP
counts them: CRLF, CR and LF each end one line, and the snapshot's text uses LF only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR → LF (Code Llama does not recognise ``<SUF>`` before a ``\\r``)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_healing(prefix: str) -> tuple[str, str]:
    """Token healing: the prefix as the prompt sees it, and the whitespace the model must generate.

    Tokenizers merge a newline with the next line's indentation (``"\\n   "`` is one token) and
    spaces with the next word (``" return"``), so a prompt that ends in whitespace ends in a
    token the model rarely saw there: after a lone ``"\\n"`` it writes top-level code. The
    trailing whitespace is taken off the prompt instead, and generation is constrained to
    produce it first.
    """
    kept = prefix.rstrip(" \t\r\n")
    return kept, prefix[len(kept):].replace("\r\n", "\n")


@dataclass(frozen=True)
class CursorSnapshot:
    """The text before and after the cursor, where it comes from, and what lies next to it."""

    prefix: str
    suffix: str
    document: Path | None = None
    """The document's file, if it has one (repository context is gathered around it)."""
    line: int = field(init=False)
    """The cursor's line, 0-based."""
    line_prefix: str = field(init=False)
    line_suffix: str = field(init=False)
    next_line: str = field(init=False)
    """The first line after the cursor's that is not blank ('' if none)."""
    healed_prefix: str = field(init=False, repr=False)
    """The prefix without its trailing whitespace (see :func:`split_healing`)."""
    trailing_whitespace: str = field(init=False)
    """That whitespace: the model generates it first."""

    @classmethod
    def of(cls, prefix: str, suffix: str, document: Path | None = None) -> CursorSnapshot:
        """A snapshot of raw document text (any newline convention)."""
        return cls(normalize_newlines(prefix), normalize_newlines(suffix), document)

    def __post_init__(self) -> None:
        newline = self.suffix.find("\n")
        healed, trailing = split_healing(self.prefix)
        facts = {
            "healed_prefix": healed,
            "trailing_whitespace": trailing,
            "line": self.prefix.count("\n"),
            "line_prefix": self.prefix[self.prefix.rfind("\n") + 1:],
            "line_suffix": self.suffix if newline == -1 else self.suffix[:newline],
            "next_line": _next_nonblank_line(self.suffix, newline),
        }
        for name, value in facts.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


def _next_nonblank_line(text: str, newline: int) -> str:
    """The first line after the one ending at ``newline`` that is not blank ('' if none); reads
    only as far as that line (the suffix can be the rest of a large file)."""
    while newline != -1:
        start = newline + 1
        newline = text.find("\n", start)
        line = text[start:] if newline == -1 else text[start:newline]
        if line.strip():
            return line
    return ""
