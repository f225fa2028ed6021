"""What the user accepted: local counts per language and model, and the gate's threshold they move.

The editor runs an item's command when the user accepts it (LSP 3.18 ``InlineCompletionItem.command``,
``CompletionItem.command``), and clients that accept a word or a line of a suggestion say so with
``infill.accepted`` ``{"id", "chars", "part": true}``. The counts (never any text: no code, no
file names) live in one JSON file on this machine, ``$XDG_DATA_HOME/infill/acceptance.json``
(``--stats-file``), shown by ``infill/status`` and ``infill-lsp stats``, cleared by
``infill-lsp stats --clear``. Nothing leaves the machine.

The adaptive threshold: once a language and model have :data:`ADAPT_AFTER` suggestions shown,
the share of them the user accepted (whole or in part) moves the threshold from the shipped one,
down when the user accepts more than :data:`TARGET_SHARE` (they want more), up when less, by at
most :data:`MOST_MOVE`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

from infill_lsp.gate import THRESHOLD

logger = logging.getLogger(__name__)

ADAPT_AFTER = 20
TARGET_SHARE = 0.28
"""The share of suggestions sent that were accepted (whole or in part) at the shipped threshold,
on the replay of standard-library files that chose it: a user who accepts like that keeps the
shipped threshold."""
GAIN = 0.5
MOST_MOVE = 0.15
RECENT = 256
"""Suggestions remembered for an acceptance that comes later (the editor may run the command
after several more keystrokes)."""
SAVE_EVERY_S = 2.0


@dataclass
class Counts:
    shown: int = 0
    accepted: int = 0
    """Suggestions accepted whole."""
    partly: int = 0
    """Suggestions of which only a word or a line was accepted."""
    accepted_chars: int = 0
    held_back: int = 0
    """Suggestions the confidence gate did not show."""

    @property
    def accepted_share(self) -> float:
        return (self.accepted + self.partly) / self.shown if self.shown else 0.0


@dataclass
class _Shown:
    key: tuple[str, str]
    taken: str = ""
    """'' not accepted yet, 'part' or 'whole'."""


def default_stats_file() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "infill" / "acceptance.json"


class AcceptanceStats:
    """The counts, the suggestions they are about, and the file they survive a restart in."""

    def __init__(self, path: Path | None) -> None:
        """``path``: None keeps the counts in memory only."""
        self.path = path
        self.counts: dict[tuple[str, str], Counts] = self._load()
        self._recent: OrderedDict[int, _Shown] = OrderedDict()
        self._saved_at = 0.0
        self._dirty = False

    def _load(self) -> dict[tuple[str, str], Counts]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {(language, model): Counts(**counts) for language, models in data["counts"].items()
                    for model, counts in models.items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("acceptance counts in %s could not be read (%s); starting from zero", self.path, exc)
            return {}

    def shown(self, suggestion_id: int, language: str, model: str) -> None:
        """A suggestion went to the editor (once per id: typing through it shows the same one)."""
        if suggestion_id in self._recent:
            return
        key = (language, model)
        self._recent[suggestion_id] = _Shown(key)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        self.counts.setdefault(key, Counts()).shown += 1
        self._changed()

    def held_back(self, language: str, model: str) -> None:
        self.counts.setdefault((language, model), Counts()).held_back += 1
        self._changed()

    def accepted(self, suggestion_id: int, chars: int, *, part: bool) -> bool:
        """The user accepted ``chars`` characters of a suggestion (``part``: a word or a line of
        it); False for an id not shown recently."""
        shown = self._recent.get(suggestion_id)
        logger.info("accepted id=%d chars=%d%s%s", suggestion_id, chars, " part" if part else "",
                    "" if shown else " (not a recent suggestion)")
        if shown is None:
            return False
        counts = self.counts.setdefault(shown.key, Counts())
        counts.accepted_chars += max(0, chars)
        if not part and shown.taken != "whole":
            counts.partly -= shown.taken == "part"
            counts.accepted += 1
            shown.taken = "whole"
        elif part and not shown.taken:
            counts.partly += 1
            shown.taken = "part"
        self._changed()
        return True

    def gate_threshold(self, setting: str, language: str, model: str) -> float | None:
        """The confidence gate's threshold under ``completion.confidence`` (``setting``), or None
        when it is off; ``auto`` starts at :data:`gate.THRESHOLD` and learns from the counts."""
        if setting == "off":
            return None
        return self.threshold(language, model, THRESHOLD) if setting == "auto" else float(setting)

    def threshold(self, language: str, model: str, base: float) -> float:
        """The gate's threshold for this language and model: ``base`` moved by the user's own
        acceptances once there are enough of them."""
        counts = self.counts.get((language, model))
        if counts is None or counts.shown < ADAPT_AFTER:
            return base
        move = max(-MOST_MOVE, min(MOST_MOVE, GAIN * (TARGET_SHARE - counts.accepted_share)))
        return max(0.0, min(1.0, base + move))

    def snapshot(self) -> list[dict]:
        """One row per language and model: ``{language, model, shown, accepted, partly,
        acceptedChars, heldBack, acceptedShare}``."""
        return [{"language": language, "model": model, "shown": counts.shown, "accepted": counts.accepted,
                 "partly": counts.partly, "acceptedChars": counts.accepted_chars, "heldBack": counts.held_back,
                 "acceptedShare": round(counts.accepted_share, 3)}
                for (language, model), counts in sorted(self.counts.items())]

    def clear(self) -> None:
        self.counts.clear()
        self._recent.clear()
        self._dirty = True
        self.save()

    def _changed(self) -> None:
        self._dirty = True
        if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        """Write the counts (atomically: a crash leaves the old file or the new one)."""
        if self.path is None or not self._dirty:
            return
        table: dict[str, dict[str, dict]] = {}
        for (language, model), counts in self.counts.items():
            table.setdefault(language, {})[model] = asdict(counts)
        data = {"version": 1, "counts": table}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
            temporary.replace(self.path)
            self._dirty, self._saved_at = False, time.monotonic()
        except OSError as exc:
            logger.warning("acceptance counts could not be saved to %s: %s", self.path, exc)


def print_stats(path: Path | None, *, as_json: bool, clear: bool) -> int:
    """``infill-lsp stats``: the counts in ``path`` (default: :func:`default_stats_file`)."""
    stats = AcceptanceStats(path or default_stats_file())
    if clear:
        stats.clear()
        print(f"cleared {stats.path}")
        return 0
    rows = stats.snapshot()
    if as_json:
        print(json.dumps({"file": str(stats.path), "counts": rows}, indent=2))
        return 0
    print(f"acceptance counts in {stats.path} (kept on this machine only; `infill-lsp stats --clear` forgets them)")
    if not rows:
        print("no suggestions shown yet")
    for row in rows:
        print(f"{row['language']:12} {row['model']}: shown {row['shown']}, accepted {row['accepted']} whole and "
              f"{row['partly']} in part ({row['acceptedShare']:.0%}), {row['acceptedChars']} characters; "
              f"held back by the gate {row['heldBack']}")
    return 0
