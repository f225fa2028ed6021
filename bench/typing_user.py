"""The simulated user of the usefulness replay: what they retype, when they press keys, and what
they accept.

Places: blocks of consecutive lines of real source files, each blanked out and retyped from its
first line. Each line is a newline (with the line's indentation, as an editor's auto-indent
gives) and then its characters, 90–180 ms apart, with a pause of 0.4–1.0 s after a word now and
then. The user reads what is on screen when the next key is due: a suggestion that is a prefix
of what they were about to type is accepted whole (one key, Tab); else as many words of it as
match are accepted one Ctrl+→ each (the words VS Code's and the Neovim plugin's accept-word
take), when that saves at least :data:`MIN_SAVED` keys; else it is typed over, and if not even
its first word was right, it was a wrong suggestion.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

WORD = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")
"""One accept-word step: leading blanks and a word, or a run of punctuation."""
LONGEST_LINE = 100


@dataclass(frozen=True)
class Place:
    """A block of lines to retype: the document with the block blanked, split at its start."""

    name: str
    before: str
    """The document up to the block (ends with the newline before it, or is empty)."""
    after: str
    """The document after the block (starts with a newline)."""
    lines: tuple[str, ...]


MIN_SAVED = 2
"""Keys an acceptance must save (characters less the accept keys) for the user to bother: a
``)`` or a `` =`` is typed faster than it is accepted."""


@dataclass(frozen=True)
class Taken:
    """What the user took of one suggestion on screen."""

    whole: int = 0
    """Characters accepted with one key (the suggestion was what they were about to type)."""
    by_word: int = 0
    """Characters accepted word by word, when only its beginning was right."""
    presses: int = 0
    """Keys it took (1 for a whole acceptance, one per word)."""
    right: bool = False
    """At least its first word was what the user was about to type (else it was a wrong suggestion)."""

    @property
    def chars(self) -> int:
        return self.whole + self.by_word


def take(shown: str, coming: str) -> Taken:
    """What the user accepts of ``shown`` when ``coming`` is what they were about to type (to the
    end of the line)."""
    if not shown:
        return Taken()
    if coming.startswith(shown) and len(shown) - 1 >= MIN_SAVED:
        return Taken(whole=len(shown), presses=1, right=True)
    taken = presses = 0
    while (step := WORD.match(shown, taken)) and step.end() > taken and coming.startswith(shown[: step.end()]):
        taken, presses = step.end(), presses + 1
    if taken - presses >= MIN_SAVED:
        return Taken(by_word=taken, presses=presses, right=True)
    return Taken(right=taken > 0 or coming.startswith(shown))


def places(path: Path, count: int, lines: int, rng: random.Random, *, skip_to: float = 0.1) -> list[Place]:
    """``count`` blocks of ``lines`` lines of code from ``path``, spread over the file (past its
    first ``skip_to`` share: the license and imports), none with a line longer than
    :data:`LONGEST_LINE` and each starting with a non-blank line."""
    source = path.read_text(encoding="utf-8").split("\n")
    starts = []
    span = len(source) - lines
    for index in range(int(len(source) * skip_to), span):
        block = source[index:index + lines]
        if (block[0].strip() and not block[0].lstrip().startswith(("#", '"""', "'''"))
                and all(len(line) <= LONGEST_LINE for line in block)
                and sum(bool(x.strip()) for x in block) >= lines // 2):
            starts.append(index)
    chosen: list[int] = []
    for index in rng.sample(starts, len(starts)):
        if all(abs(index - other) >= lines for other in chosen):
            chosen.append(index)
        if len(chosen) == count:
            break
    found = []
    for index in sorted(chosen):
        before = "\n".join(source[:index]) + "\n" if index else ""
        found.append(Place(f"{path.name}:{index + 1}", before, "\n" + "\n".join(source[index + lines:]),
                           tuple(source[index:index + lines])))
    return found


@dataclass
class Typist:
    """A fluent typist's timing."""

    rng: random.Random
    fastest: float = 0.09
    slowest: float = 0.18
    pause_chance: float = 0.15

    def delay(self, after: str) -> float:
        """Seconds before the next key, ``after`` being the text typed so far on the line."""
        delay = self.rng.uniform(self.fastest, self.slowest)
        if after.endswith(" ") and self.rng.random() < self.pause_chance:
            delay += self.rng.uniform(0.4, 1.0)
        return delay
