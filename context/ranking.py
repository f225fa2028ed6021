"""Ranking: which chunks of the repository go into the prompt.

First the definition of the name being typed (``infill_lsp.context.resolve``), whatever else ranks high:
it is what the user needs and it is small. Then six ranked lists, fused by reciprocal rank (RRF):

1. chunks whose lines resemble the lines before the cursor (``infill_lsp.context.similar``);
2. BM25 over the identifiers near the cursor;
3. definitions of names used near the cursor (a signature beats a usage);
4. chunks of the files the current file imports;
5. chunks of recently edited files;
6. chunks of other open buffers.

Chunks inside the local prefix/suffix window are never repeated, and each file contributes a
few chunks before any file contributes more. Selection fills the token budget exactly; the
chosen chunks are then ordered by path and line so the prompt is stable between keystrokes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from infill_lsp.context.chunking import Chunk, identifiers_in
from infill_lsp.context.index import RepoIndex
from infill_lsp.context.similar import query_lines, rank_similar

RRF_K = 60
PER_FILE_FIRST_PASS = 3
NEAR_CURSOR_LINES = 30
SIMILAR_POOL = 100


class _Placed(Protocol):
    path: str
    start_line: int


Ranked = TypeVar("Ranked", bound=_Placed)
"""A chunk or a snippet: anything with a place in the repository."""


@dataclass(frozen=True)
class Query:
    """Where the cursor is and what the user has been doing."""

    path: str
    """Workspace-relative path of the current file."""
    near_cursor: str
    """Text around the cursor: its identifiers drive BM25 and definition lookup."""
    window: tuple[int, int]
    """Lines of the current file already in the prompt (start inclusive, end exclusive)."""
    imports: tuple[str, ...] = ()
    """Workspace-relative paths of files the current file imports."""
    recent: tuple[str, ...] = ()
    """Recently edited paths, most recent first."""
    open_buffers: tuple[str, ...] = ()
    """Other open documents' paths."""
    before_cursor: str = ""
    """The lines just before the cursor: similar code elsewhere is ranked by them."""


def near_cursor_text(prefix: str, suffix: str, lines: int = NEAR_CURSOR_LINES) -> str:
    """The last ``lines`` lines before the cursor and a few after it."""
    before = prefix.split("\n")[-lines:]
    after = suffix.split("\n")[: max(3, lines // 3)]
    return "\n".join(before) + "\n".join(after)


def fuse(lists: Sequence[Sequence[Chunk]]) -> list[Chunk]:
    """Reciprocal-rank fusion; ties broken by path and line for determinism."""
    scores: dict[tuple[str, int], float] = defaultdict(float)
    chunks: dict[tuple[str, int], Chunk] = {}
    for ranked in lists:
        for rank, chunk in enumerate(ranked):
            scores[chunk.key] += 1.0 / (RRF_K + rank + 1)
            chunks[chunk.key] = chunk
    order = sorted(scores, key=lambda key: (-scores[key], key))
    return [chunks[key] for key in order]


def candidates(index: RepoIndex, query: Query) -> list[Chunk]:
    """Every useful chunk, best first, excluding what the prompt already shows."""
    terms = identifiers_in(query.near_cursor)
    by_bm25 = index.bm25(terms, limit=80)
    used = set(terms)
    definitions = [c for c in index.definitions_of(used) if c.defines & used]
    imported = _chunks_of(index, query.imports, by_bm25)
    recent = _chunks_of(index, query.recent, by_bm25)
    buffers = _chunks_of(index, query.open_buffers, by_bm25)
    lines = query_lines(query.before_cursor)
    pool = {c.key: c for c in [*index.bm25(identifiers_in("\n".join(lines)), limit=SIMILAR_POOL), *by_bm25,
                                *imported, *recent, *buffers]}
    similar = rank_similar(lines, list(pool.values()))
    fused = fuse([similar, by_bm25, definitions, imported, recent, buffers])
    return _spread_over_files(_outside_window(fused, query))


def put_first(definitions: Sequence[Chunk], ranked: Sequence[Chunk], query: Query) -> list[Chunk]:
    """The definitions of the name being typed ahead of everything else (a signature block of
    one replaces its whole chunk: they share a key)."""
    first = {chunk.key for chunk in definitions}
    return [*_outside_window(definitions, query), *(chunk for chunk in ranked if chunk.key not in first)]


def _outside_window(chunks: Sequence[Chunk], query: Query) -> list[Chunk]:
    start, end = query.window
    return [c for c in chunks if not (c.path == query.path and c.start_line < end and c.end_line > start)]


def _chunks_of(index: RepoIndex, paths: Sequence[str], preferred: Sequence[Chunk]) -> list[Chunk]:
    # Within a file, chunks that also match BM25 come first, then file order.
    rank = {chunk.key: i for i, chunk in enumerate(preferred)}
    result: list[Chunk] = []
    for path in paths:
        entry = index.file(path)
        if entry is not None:
            result.extend(sorted(entry.chunks, key=lambda c: (rank.get(c.key, len(rank)), c.start_line)))
    return result


def _spread_over_files(ranked: list[Chunk]) -> list[Chunk]:
    first, later, per_file = [], [], defaultdict(int)
    for chunk in ranked:
        per_file[chunk.path] += 1
        (first if per_file[chunk.path] <= PER_FILE_FIRST_PASS else later).append(chunk)
    return first + later


def select(ranked: Sequence[Ranked], budget: int, cost: Callable[[Ranked], int]) -> list[Ranked]:
    """Take chunks in rank order while they fit ``budget``; return them in stable path/line order."""
    chosen, used = [], 0
    for chunk in ranked:
        tokens = cost(chunk)
        if used + tokens <= budget:
            chosen.append(chunk)
            used += tokens
        if budget - used < 16:
            break
    return sorted(chosen, key=lambda c: (c.path, c.start_line))
