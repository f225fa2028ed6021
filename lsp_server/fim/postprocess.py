"""Pure post-processing: decide, token by token, where a suggestion ends.

Each rule looks at the whole text generated so far and returns the index where the
suggestion must end (or None). :func:`shaping` is the transform over the engine's stream of
pieces: it applies :func:`shape` after every piece and ends as soon as a rule fires (its reader
then closes the engine's stream), so no time is spent on text the user will not see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from infill_lsp.context import CursorSnapshot

MultilineSetting = Literal["auto", "always", "never"]

_CLOSERS = {")": "(", "]": "[", "}": "{"}
_OPENERS = {v: k for k, v in _CLOSERS.items()}
_BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", " do", "then")
_ONLY_CLOSING = re.compile(r"^[\s)\]}'\";,:]*$")


@dataclass(frozen=True)
class CursorLine:
    """The cursor's line as the rules see it, and whether the suggestion may span lines."""

    line_prefix: str
    """Text of the cursor's line before the cursor."""
    line_suffix: str
    """Text of the cursor's line after the cursor."""
    next_line: str
    """The first non-blank line after the cursor's line ('' if none)."""
    multiline: bool
    """Whether the suggestion may span several lines."""
    speculative: bool = False
    """Whether a single-line suggestion at the end of a line of code may be the next line instead."""
    rules_off: frozenset[str] = frozenset()
    """Names of rules (:data:`RULE_NAMES`) not applied: to measure what each one earns."""

    @property
    def indent(self) -> int:
        """Indentation width of the cursor's line."""
        return len(self.line_prefix) - len(self.line_prefix.lstrip())

    @property
    def opens_block(self) -> bool:
        """The code before the cursor ends with a block opener (``:``, ``{``…)."""
        return self.line_prefix.rstrip().endswith(_BLOCK_OPENERS)


def cursor_line(cursor: CursorSnapshot, multiline: MultilineSetting = "auto", *,
                speculative: bool = False, rules_off: tuple[str, ...] = ()) -> CursorLine:
    """What the rules need from the cursor snapshot, under the multiline setting.

    ``speculative`` is for the suggestion computed ahead for the text after an acceptance: there
    the cursor ends a line the user just took, and the next line is the useful suggestion.
    While typing, a model that wants a newline gets no suggestion at once instead.
    """
    line_prefix, line_suffix = cursor.line_prefix, cursor.line_suffix
    if multiline == "auto":
        # A blank line (even before auto-inserted closers) starts a block; a block opener
        # does too when nothing follows it, but ``foo(║)`` is an inline argument list.
        blank_line = not line_prefix.strip() and bool(_ONLY_CLOSING.match(line_suffix))
        wants_many = blank_line or (not line_suffix.strip() and line_prefix.rstrip().endswith(_BLOCK_OPENERS))
    else:
        wants_many = multiline == "always"
    return CursorLine(line_prefix, line_suffix, cursor.next_line, wants_many, speculative, frozenset(rules_off))


@dataclass(frozen=True)
class Shaped:
    """The suggestion so far: ``text`` to show, ``done`` when generation must stop."""

    text: str
    done: bool
    settled: int
    """Length of ``text`` no later token can take back (what a terminal may print)."""
    scores: tuple[tuple[int, float], ...] = ()
    """The tokens that wrote ``text`` (``gate.token_scores``), when the gate reads them: the
    completer adds them, shaping knows only text."""


def _width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def stop_single_line(text: str, ctx: CursorLine) -> int | None:
    """Single-line mode ends at the first newline (or at the second, for a next-line suggestion)."""
    if ctx.multiline:
        return None
    newline = text.find("\n")
    if newline == 0 and ctx.speculative and ctx.line_prefix.strip() and not ctx.line_suffix.strip():
        newline = text.find("\n", 1)
    return None if newline == -1 else newline


def stop_at_line_suffix(text: str, ctx: CursorLine, final: bool) -> int | None:
    """The first line must not re-type what already follows the cursor (``foo(a|)`` → no ``)``)."""
    tail = ctx.line_suffix.strip()
    if not tail:
        return None
    newline = text.find("\n")
    first = text if newline == -1 else text[:newline]
    if newline == -1 and not final:
        return None
    stripped = first.rstrip()
    return len(stripped) - len(tail) if stripped.endswith(tail) else None


def stop_at_existing_line(text: str, ctx: CursorLine) -> int | None:
    """Stop before a completed line that repeats the code right after the cursor."""
    target = ctx.next_line.strip()
    if not target:
        return None
    start = 0
    for line in text.split("\n")[:-1]:
        if start > 0 and line.strip() == target:
            return start - 1
        start += len(line) + 1
    return None


def stop_at_dedent(text: str, ctx: CursorLine) -> int | None:
    """Stop before a line that leaves the cursor's block (indentation below the block's)."""
    if not ctx.multiline:
        return None
    lines = text.split("\n")
    if ctx.line_prefix.strip():
        base = _width(ctx.line_prefix)
    else:
        # On a blank line the suggestion's first line of code says which block it is in: a
        # body's last line typed at column 0 is indented, and the test script a chat-tuned
        # model writes after it is not part of the hole.
        first = next((line for line in lines if line.strip()), "")
        base = len(ctx.line_prefix.expandtabs(4)) + _width(first)
    start = len(lines[0]) + 1
    closes_block = ctx.opens_block and bool(ctx.line_prefix.strip())
    for number, line in enumerate(lines[1:], start=1):
        if line.strip():
            width = _width(line)
            if closes_block and width == base and line.lstrip()[0] in _CLOSERS:
                # The bracket that closes the block opened on the cursor's line ends it.
                return start + len(line) if number < len(lines) - 1 else None
            if width < base or (closes_block and width <= base):
                return start - 1
        start += len(line) + 1
    return None


def stop_at_repetition(text: str, _ctx: CursorLine) -> int | None:
    """Stop when the model loops: a line three times in a row, or a block of 2–4 lines twice."""
    lines = text.split("\n")[:-1]
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    for i in range(2, len(lines)):
        if lines[i].strip() and lines[i] == lines[i - 1] == lines[i - 2]:
            return offsets[i - 1] - 1
    for size in (2, 3, 4):
        for i in range(2 * size, len(lines) + 1):
            block, previous = lines[i - size:i], lines[i - 2 * size:i - size]
            if block == previous and any(line.strip() for line in block):
                return offsets[i - size] - 1
    return None


def stop_at_unbalanced_closer(text: str, ctx: CursorLine) -> int | None:
    """Stop before a closing bracket the suffix already provides."""
    after = (ctx.line_suffix + "\n" + ctx.next_line).lstrip()
    depth: list[str] = []
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif char in _OPENERS:
            depth.append(char)
        elif char in _CLOSERS:
            if depth and depth[-1] == _CLOSERS[char]:
                depth.pop()
            elif after.startswith(char):
                return index
    return None


_RULES = (
    ("singleLine", lambda text, ctx, _final: stop_single_line(text, ctx)),
    ("lineSuffix", stop_at_line_suffix),
    ("existingLine", lambda text, ctx, _final: stop_at_existing_line(text, ctx)),
    ("dedent", lambda text, ctx, _final: stop_at_dedent(text, ctx)),
    ("repetition", lambda text, ctx, _final: stop_at_repetition(text, ctx)),
    ("unbalancedCloser", lambda text, ctx, _final: stop_at_unbalanced_closer(text, ctx)),
)
RULE_NAMES = tuple(name for name, _rule in _RULES)
"""The rules' names, as the ``completion.rulesOff`` setting spells them."""


def shape(text: str, ctx: CursorLine, *, final: bool = False) -> Shaped:
    """Apply every rule (but those switched off) to the generated text; the earliest cut wins."""
    cuts = [rule(text, ctx, final) for name, rule in _RULES if name not in ctx.rules_off]
    found = [cut for cut in cuts if cut is not None]
    done = bool(found)
    if done:
        text = text[: max(0, min(found))]
    if done or final:
        text = text.rstrip()
        return Shaped(text, True, len(text))
    return Shaped(text, False, _settled_length(text, ctx))


def _settled_length(text: str, ctx: CursorLine) -> int:
    # Rules look back at most four complete lines (a repeated 4-line block), so older lines
    # are final. The first line streams freely, holding back a tail that could turn out to
    # be the text already after the cursor.
    lines = text.split("\n")
    if len(lines) > 1:
        stable = max(1, len(lines) - 1 - 4)
        return sum(len(line) + 1 for line in lines[:stable]) - 1
    tail = ctx.line_suffix.strip()
    for size in range(min(len(tail), len(text)), 0, -1):
        if text.endswith(tail[:size]):
            return len(text) - size
    return len(text.rstrip())


def shaping(pieces: Iterable[str], ctx: CursorLine, forced: str = "") -> Iterator[Shaped]:
    """The suggestion after each piece of generated text, ending with a final one (``done``,
    the end-of-text rules applied) once a rule fires or the pieces run out.

    ``forced`` is the text token healing took off the prompt: the engine's output begins with it
    and the suggestion starts after it."""
    generated = ""
    for piece in pieces:
        generated += piece
        if len(generated) <= len(forced) and forced.startswith(generated):
            continue  # still inside the text that token healing took off the prompt
        shaped = shape(generated[len(forced):], ctx)
        if shaped.done:
            break
        yield shaped
    yield shape(generated[len(forced):], ctx, final=True)
