"""The confidence gate: whether a suggestion is worth the user's reading time, and how much of it.

Most suggestions a small model makes are wrong, and every wrong one shown is text the user
reads and types over. The gate scores a suggestion from what the engine already knows for free
(the log-probabilities of the tokens that wrote its first line, its length, whether it only
repeats nearby text, where the cursor is in the word and the line) with a logistic model, and
holds back those below a threshold; of one it shows, it shows the start up to the first token
the model was unsure of. Pure functions: the service calls :func:`judge` on what the engine has
written so far and on the finished suggestion.

The coefficients were fitted by ``python -m bench.gate_fit`` on suggestions at every cursor
position of lines of CPython's standard library (never the files ``bench.usefulness`` reports
on); a suggestion's label was "the user would have accepted at least a word of it". The
threshold was chosen on a real-time replay of other standard-library files. docs/benchmarks.md
has both.
"""

from __future__ import annotations

import functools
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
INTERCEPT = -0.7235
COEFFICIENTS = (0.4072, 2.3058, -0.6487, -2.1332, 1.8846, 1.2936, 0.1489, -0.2610, -1.1896)
"""Fitted on 3,335 suggestions of the bundled model, each cut at its first unsure token as it is
shown (``python -m bench.gate_fit``). The mean log-probability carries most of it; for a fixed
mean, more tokens in fewer characters (short pieces, odd spellings) count against, and a line
that already looks finished counts against."""
THRESHOLD = 0.34
"""The shipped operating point (``completion.confidence`` "auto" starts here), chosen on the
real-time replay of standard-library files (``bench.usefulness`` on ``logging``, ``http.client``
and ``email.message``; never the reported packages): of 0.16 / 0.22 / 0.28 / 0.34 it showed the
fewest wrong suggestions for about the characters of 0.28 (docs/benchmarks.md). The fit's own
data scores higher than typing does: half the keystrokes of a replay come from prompts shortened
for time, which the model is less sure of."""


UNSURE_TOKEN = -1.5
"""A token this unlikely (log-probability) ends what the gate shows of a suggestion: from there
on the model was guessing, and what it wrote before is what it knew. The first token is always
kept (the whole suggestion is judged by its confidence instead)."""
STREAMED_FROM = 3
"""Characters (not blanks) a streamed part needs before the gate judges it: a shorter one saves
no key."""


@dataclass(frozen=True)
class Verdict:
    show: bool
    confidence: float
    threshold: float
    shown: str = ""
    """What is shown of the suggestion when ``show``: its start up to its first unsure token."""

    def explained(self) -> str:
        """Why, in words, for ``infill/explain``."""
        return f"its confidence {self.confidence:.2f} is below the threshold {self.threshold:.2f}"


def first_line(text: str) -> str:
    """The line a suggestion is judged by: its first, or the one it starts when it starts with a
    line break."""
    return text.split("\n", 1)[0] or text.lstrip("\n").split("\n", 1)[0]


def token_scores(scores: list[tuple[int, float]], skip: int, text: str) -> tuple[tuple[int, float], ...]:
    """The tokens that wrote ``text``, as ``(where in text the token ends, log-probability)``.

    ``scores`` are the engine's ``(text length after the token, log-probability)``; the first
    ``skip`` characters of that text are not part of the suggestion (what token healing took off
    the prompt), so a token that only re-spelled them does not count, and one that crossed into
    the suggestion does. Tokens past the end of ``text`` (shaping cut it there) do not count."""
    kept, start = [], 0
    for length, logprob in scores:
        if length > skip and start < skip + len(text):
            kept.append((min(length - skip, len(text)), logprob))
        start = length
    return tuple(kept)


def logprobs_until(scores: tuple[tuple[int, float], ...], end: int) -> tuple[float, ...]:
    """The log-probabilities of the tokens that wrote the first ``end`` characters."""
    kept, start = [], 0
    for token_end, logprob in scores:
        if start < end:
            kept.append(logprob)
        start = token_end
    return tuple(kept)


def first_line_end(text: str) -> int:
    """Where the line that :func:`first_line` gives ends in ``text``."""
    line = first_line(text)
    return text.index(line) + len(line) if line else 0


def tail(prefix: str) -> str:
    """The end of ``prefix`` the gate reads: the cursor's line and the :data:`NEARBY_LINES` lines
    above it. Found from the end: the prefix may be the whole document before the cursor."""
    start = len(prefix)
    for _ in range(NEARBY_LINES + 1):
        start = prefix.rfind("\n", 0, start)
        if start < 0:
            break
    return prefix[start + 1:]


@dataclass(frozen=True)
class _Cursor:
    before: str
    """The cursor's line up to the cursor."""
    nearby: frozenset[str]
    """The lines just above, stripped."""
    mid_word: bool
    line_start: bool
    line_closed: bool


@functools.lru_cache(maxsize=4)
def _cursor(prefix: str) -> _Cursor:
    # The same for every partial suggestion of one request: read once per prefix.
    *above, before = tail(prefix).split("\n")
    return _Cursor(before, frozenset(line.strip() for line in above), bool(_WORD_END.search(before)),
                   not before.strip(), _closed(before))


def features(text: str, logprobs: tuple[float, ...], prefix: str) -> Features:
    """The gate's view of suggestion ``text`` made after ``prefix``."""
    line = first_line(text)
    cursor = _cursor(prefix)
    stripped = (cursor.before + line).strip()
    return Features(
        first=logprobs[0], mean=sum(logprobs) / len(logprobs), minimum=min(logprobs), tokens=len(logprobs),
        chars=len(line), repeats=len(stripped) >= 4 and stripped in cursor.nearby,
        mid_word=cursor.mid_word, line_start=cursor.line_start, line_closed=cursor.line_closed)


def _closed(line: str) -> bool:
    depth = sum(line.count(c) for c in _OPENERS) - sum(line.count(c) for c in _CLOSERS)
    return depth == 0 and line.rstrip().endswith((")", "]", "}", ":", '"', "'"))


def confidence(found: Features) -> float:
    """The model's probability that the user accepts at least a word of the suggestion."""
    z = INTERCEPT + sum(weight * value for weight, value in zip(COEFFICIENTS, found.vector()))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def sure_end(text: str, scores: tuple[tuple[int, float], ...], unsure: float = UNSURE_TOKEN) -> int:
    """Where the start of ``text`` written without a token below ``unsure`` ends."""
    start = 0
    for number, (end, logprob) in enumerate(scores):
        if number and logprob < unsure:
            return start
        start = end
    return len(text)


def judge(text: str, scores: tuple[tuple[int, float], ...], prefix: str, threshold: float | None) -> Verdict | None:
    """Whether to show ``text`` (its token ``scores`` as :func:`token_scores` gives them), and
    which part of it; None when the gate is off (``threshold`` None) or there is nothing to judge
    it by (no text, or an engine that sends no probabilities): it is shown whole."""
    if threshold is None or not text.strip() or not scores:
        return None
    part = text[: sure_end(text, scores)]
    if not part.strip():
        return Verdict(False, 0.0, threshold)
    score = confidence(features(part, logprobs_until(scores, first_line_end(part)), prefix))
    return Verdict(score >= threshold, score, threshold, part if score >= threshold else "")


def streamed_part(text: str, scores: tuple[tuple[int, float], ...], prefix: str, threshold: float | None) -> str:
    """What may be streamed of ``text`` while it is still being written (:func:`judge` on it):
    nothing until it has :data:`STREAMED_FROM` characters."""
    if len(text.strip()) < STREAMED_FROM:
        return ""
    verdict = judge(text, scores, prefix, threshold)
    return text if verdict is None else verdict.shown
