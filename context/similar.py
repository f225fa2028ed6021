"""Similar code: chunks holding lines that look like the lines just before the cursor.

RepoCoder's observation: code that reads like the last few lines before the cursor is usually
followed, somewhere else in the repository, by the line the user is about to write (the same
call after the same setup). Similarity is Jaccard over the token sets of the query lines and
of a sliding window of the same height inside each candidate chunk; a chunk scores its best
window. Pure functions over chunk texts (window token sets are cached per chunk); the ranking
module supplies the candidates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from infill_lsp.context.chunking import Chunk

QUERY_LINES = 8
"""Non-blank lines before the cursor that form the query."""
MIN_SIMILARITY = 0.2
"""Below this a window shares little more than keywords with the query."""
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_window_cache: dict[tuple[str, int, int, int], tuple[frozenset[str], ...]] = {}
_CACHE_LIMIT = 50_000


def query_lines(prefix: str, count: int = QUERY_LINES) -> list[str]:
    """The last ``count`` non-blank lines before the cursor (the current partial line included)."""
    lines = [line for line in prefix.split("\n")[-4 * count:] if line.strip()]
    return lines[-count:]


def token_set(text: str) -> frozenset[str]:
    """Every word-like token, keywords included: they carry the shape of the code."""
    return frozenset(_TOKEN.findall(text))


def windows(lines: Sequence[frozenset[str]], height: int) -> tuple[frozenset[str], ...]:
    """Token sets of the ``height``-line windows over ``lines``, half a window apart, the last flush."""
    if not lines:
        return ()
    stride = max(1, height // 2)
    last_start = max(0, len(lines) - height)
    starts = list(range(0, last_start + 1, stride))
    if starts[-1] != last_start:
        starts.append(last_start)
    return tuple(frozenset().union(*lines[start:start + height]) for start in starts)


def _chunk_windows(chunk: Chunk, height: int) -> tuple[frozenset[str], ...]:
    # Chunks recur from keystroke to keystroke: their windows are built once per height.
    key = (chunk.path, chunk.start_line, hash(chunk.text), height)
    found = _window_cache.get(key)
    if found is None:
        if len(_window_cache) > _CACHE_LIMIT:
            _window_cache.clear()
        found = windows([token_set(line) for line in chunk.text.split("\n") if line.strip()], height)
        _window_cache[key] = found
    return found


def best_similarity(query: frozenset[str], candidates: Sequence[frozenset[str]]) -> float:
    """The highest Jaccard similarity between ``query`` and any of ``candidates``."""
    best = 0.0
    for window in candidates:
        shared = len(query & window)
        if shared:
            best = max(best, shared / (len(query) + len(window) - shared))
    return best


def rank_similar(lines: Sequence[str], pool: Sequence[Chunk]) -> list[Chunk]:
    """Chunks of ``pool`` whose best window resembles ``lines`` (see :func:`query_lines`), best first."""
    query = token_set("\n".join(lines))
    if not query:
        return []
    scored = []
    for chunk in pool:
        score = best_similarity(query, _chunk_windows(chunk, len(lines)))
        if score >= MIN_SIMILARITY:
            scored.append((score, chunk))
    scored.sort(key=lambda item: (-item[0], item[1].key))
    return [chunk for _score, chunk in scored]
