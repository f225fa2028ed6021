"""The confidence gate: whether a finished suggestion is worth the user's reading time.

Most suggestions a small model makes are wrong, and every wrong one shown is text the user
reads and types over. The gate scores a suggestion from what the engine already knows for free
(the log-probabilities of the tokens that wrote its first line, its length, whether it only
repeats nearby text, where the cursor is in the word and the line) with a logistic model, and
holds back those below a threshold. Pure functions: the service calls :func:`judge`.

The coefficients were fitted by ``python -m bench.gate_fit`` on suggestions at every cursor
position of lines of CPython's standard library (never the files ``bench.usefulness`` reports
on); a suggestion's label was "the user would have accepted at least a word of it". The
threshold was chosen on a real-time replay of other standard-library files. docs/benchmarks.md
has both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

NEARBY_LINES = 30
"""How far up the prefix a repeated line counts as nearby."""
_WORD_END = re.compile(r"[A-Za-z0-9_]$")
_OPENERS, _CLOSERS = "([{", ")]}"


@dataclass(frozen=True)
class Features:
    """What the gate reads about one suggestion."""

    first: float
    """Log-probability of the first token."""
    mean: float
    """Mean log-probability over the first line's tokens."""
    minimum: float
    """The least likely token of the first line."""
    tokens: int
    chars: int
    """Characters of the first line."""
    repeats: bool
    """The first line already stands, whole, in the lines just above."""
    mid_word: bool
    """The cursor is inside a word (the prefix ends with a letter, digit or ``_``)."""
    line_start: bool
    """Only indentation comes before the cursor on its line."""
    line_closed: bool
    """The line before the cursor has its brackets balanced and ends as statements end (``)``,
    ``]``, ``}``, ``:`` or a quote): the user is most likely about to press Enter."""

    def vector(self) -> list[float]:
        """The model's inputs, in :data:`NAMES` order."""
        return [self.first, self.mean, self.minimum, math.log1p(self.tokens), math.log1p(self.chars),
                float(self.repeats), float(self.mid_word), float(self.line_start), float(self.line_closed)]


NAMES = ("first", "mean", "minimum", "log_tokens", "log_chars", "repeats", "mid_word", "line_start", "line_closed")
INTERCEPT = 0.3577
COEFFICIENTS = (-0.0644, 2.4427, 0.0761, -2.3862, 1.8354, 0.9496, 0.1157, -0.2343, -1.0553)
"""Fitted on 3,340 suggestions of the bundled model (``python -m bench.gate_fit``). The mean
log-probability carries most of it; for a fixed mean, more tokens in fewer characters (short
pieces, odd spellings) count against, and a line that already looks finished counts against."""
THRESHOLD = 0.16
"""The shipped operating point (``completion.confidence`` "auto" starts here), chosen on the
real-time replay of standard-library files (``bench.usefulness`` on ``logging``, ``http.client``
and ``email.message``; never the reported packages): of 0.10 / 0.16 / 0.22 it held back the most
wrong suggestions for the characters kept (docs/benchmarks.md). The fit's own data scores higher
than typing does: half the keystrokes of a replay come from prompts shortened for time, which
the model is less sure of."""


@dataclass(frozen=True)
class Verdict:
    show: bool
    confidence: float
    threshold: float

    def explained(self) -> str:
        """Why, in words, for ``infill/explain``."""
        return f"its confidence {self.confidence:.2f} is below the threshold {self.threshold:.2f}"


def first_line(text: str) -> str:
    """The line a suggestion is judged by: its first, or the one it starts when it starts with a
    line break."""
    return text.split("\n", 1)[0] or text.lstrip("\n").split("\n", 1)[0]


def first_line_logprobs(scores: list[tuple[int, float]], skip: int, text: str) -> tuple[float, ...]:
    """The log-probabilities of the tokens that wrote the first line of ``text``.

    ``scores`` are the engine's ``(text length after the token, log-probability)``; the first
    ``skip`` characters of that text are not part of the suggestion (what token healing took off
    the prompt), so a token that only re-spelled them does not count, and one that crossed into
    the suggestion does."""
    line = first_line(text)
    end = skip + text.index(line) + len(line) if line else skip
    kept, start = [], 0
    for length, logprob in scores:
        if length > skip and start < end:
            kept.append(logprob)
        start = length
    return tuple(kept)


def features(text: str, logprobs: tuple[float, ...], prefix: str) -> Features:
    """The gate's view of suggestion ``text`` made after ``prefix``."""
    line = first_line(text)
    # From the end only: the prefix may be the whole document before the cursor. With a full
    # split, the first piece is everything further up, not a line.
    pieces = prefix.rsplit("\n", NEARBY_LINES + 1)
    before = pieces[-1]
    nearby = pieces[1:-1] if len(pieces) == NEARBY_LINES + 2 else pieces[:-1]
    stripped = (before + line).strip()
    return Features(
        first=logprobs[0], mean=sum(logprobs) / len(logprobs), minimum=min(logprobs), tokens=len(logprobs),
        chars=len(line), repeats=len(stripped) >= 4 and any(other.strip() == stripped for other in nearby),
        mid_word=bool(_WORD_END.search(before)), line_start=not before.strip(), line_closed=_closed(before))


def _closed(line: str) -> bool:
    depth = sum(line.count(c) for c in _OPENERS) - sum(line.count(c) for c in _CLOSERS)
    return depth == 0 and line.rstrip().endswith((")", "]", "}", ":", '"', "'"))


def confidence(found: Features) -> float:
    """The model's probability that the user accepts at least a word of the suggestion."""
    z = INTERCEPT + sum(weight * value for weight, value in zip(COEFFICIENTS, found.vector()))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def judge(text: str, logprobs: tuple[float, ...], prefix: str, threshold: float | None) -> Verdict | None:
    """Whether to show ``text``; None when the gate is off (``threshold`` None) or there is
    nothing to judge it by (no text, or an engine that sends no probabilities): it is shown."""
    if threshold is None or not text.strip() or not logprobs:
        return None
    score = confidence(features(text, logprobs, prefix))
    return Verdict(score >= threshold, score, threshold)
