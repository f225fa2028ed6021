"""The repository index: chunks of every indexed file, a BM25 inverted index over their
identifiers, and a map from defined names to the chunks that define them.

Updates are per file and incremental (a save re-chunks one file), which is why BM25 is kept
here as a small inverted index instead of a library that rebuilds a whole matrix per change.
All methods are thread-safe: the indexer thread writes while the inference thread reads.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from context.chunking import Chunk, chunk_text

BM25_K1 = 1.2
BM25_B = 0.75
_PY_IMPORT = re.compile(r"^\s*(?:from\s+([.\w]+)\s+import|import\s+([.\w]+))", re.MULTILINE)
_JS_IMPORT = re.compile(r"""(?:from\s+|require\(\s*|import\s+)['"]([^'"]+)['"]""")
_GO_IMPORT = re.compile(r'^\s*(?:import\s+)?(?:\w+\s+)?"([\w./-]+)"\s*$', re.MULTILINE)


def imported_modules(text: str) -> list[str]:
    """Module references a file imports (Python dotted names, JS/TS specifiers, Go paths)."""
    found = [a or b for a, b in _PY_IMPORT.findall(text)]
    found += _JS_IMPORT.findall(text) + _GO_IMPORT.findall(text)
    return found


@dataclass(frozen=True)
class FileEntry:
    """One indexed file."""

    path: str
    mtime: float
    chunks: tuple[Chunk, ...]
    imports: tuple[str, ...]


def _entry_hash(path: str, mtime: float) -> int:
    digest = hashlib.blake2b(f"{path}\0{mtime!r}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def fingerprint_of(files: Iterable[tuple[str, float]]) -> str:
    """The :meth:`RepoIndex.fingerprint` an index of these ``(path, mtime)`` files has."""
    value = 0
    for path, mtime in files:
        value ^= _entry_hash(path, mtime)
    return f"{value:016x}"


class RepoIndex:
    """Chunks, BM25 postings and definitions for one or more workspace folders."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, FileEntry] = {}
        self._postings: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
        self._lengths: dict[tuple[str, int], int] = {}
        self._chunks: dict[tuple[str, int], Chunk] = {}
        self._definitions: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self._total_length = 0
        self._fingerprint = 0

    # -- writing ------------------------------------------------------------------------------
    def update_file(self, path: str, text: str, mtime: float = 0.0) -> FileEntry:
        """(Re)index one file from its text."""
        chunks = tuple(chunk_text(path, text))
        entry = FileEntry(path, mtime, chunks, tuple(imported_modules(text)))
        with self._lock:
            self._drop(path)
            self._files[path] = entry
            self._fingerprint ^= _entry_hash(entry.path, entry.mtime)
            for chunk in chunks:
                self._add_chunk(chunk)
        return entry

    def remove_file(self, path: str) -> None:
        """Forget a deleted or newly ignored file."""
        with self._lock:
            self._drop(path)

    def _add_chunk(self, chunk: Chunk) -> None:
        key = chunk.key
        self._chunks[key] = chunk
        self._lengths[key] = len(chunk.identifiers)
        self._total_length += len(chunk.identifiers)
        for term, count in Counter(chunk.identifiers).items():
            self._postings[term][key] = count
        for name in chunk.defines:
            self._definitions[name].add(key)

    def _drop(self, path: str) -> None:
        entry = self._files.pop(path, None)
        if entry is None:
            return
        self._fingerprint ^= _entry_hash(entry.path, entry.mtime)
        for chunk in entry.chunks:
            key = chunk.key
            self._chunks.pop(key, None)
            self._total_length -= self._lengths.pop(key, 0)
            for term in set(chunk.identifiers):
                postings = self._postings.get(term)
                if postings is not None:
                    postings.pop(key, None)
                    if not postings:
                        del self._postings[term]
            for name in chunk.defines:
                self._definitions[name].discard(key)
                if not self._definitions[name]:
                    del self._definitions[name]

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def file(self, path: str) -> FileEntry | None:
        """The entry of one file, if indexed."""
        with self._lock:
            return self._files.get(path)

    def paths(self) -> list[str]:
        """Every indexed path."""
        with self._lock:
            return list(self._files)

    def fingerprint(self) -> str:
        """A digest of every indexed file's path and modification time, kept as files change:
        two indexes of the same files at the same times have the same one."""
        with self._lock:
            return f"{self._fingerprint:016x}"

    def chunk_count(self) -> int:
        """Number of chunks in the index."""
        with self._lock:
            return len(self._chunks)

    def bm25(self, query: list[str], limit: int = 50) -> list[Chunk]:
        """Chunks best matching the query identifiers, best first."""
        with self._lock:
            n_chunks = len(self._chunks)
            if not n_chunks or not query:
                return []
            average = self._total_length / n_chunks or 1.0
            scores: dict[tuple[str, int], float] = defaultdict(float)
            for term, weight in Counter(query).items():
                postings = self._postings.get(term)
                if not postings:
                    continue
                idf = math.log(1 + (n_chunks - len(postings) + 0.5) / (len(postings) + 0.5))
                for key, count in postings.items():
                    norm = count + BM25_K1 * (1 - BM25_B + BM25_B * self._lengths[key] / average)
                    scores[key] += weight * idf * count * (BM25_K1 + 1) / norm
            best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
            return [self._chunks[key] for key, _score in best]

    def definitions_of(self, names: set[str]) -> list[Chunk]:
        """Chunks that define any of ``names`` (deterministic order)."""
        with self._lock:
            keys = sorted({key for name in names for key in self._definitions.get(name, ())})
            return [self._chunks[key] for key in keys]

    def resolve_import(self, importer: str, module: str) -> str | None:
        """The indexed file an import in ``importer`` most likely refers to."""
        with self._lock:
            paths = self._files.keys()
            if module.startswith("."):
                base = importer.rsplit("/", 1)[0] if "/" in importer else ""
                parts = [p for p in (base + "/" + module).split("/") if p not in ("", ".")]
                resolved: list[str] = []
                for part in parts:
                    if part == "..":
                        if resolved:
                            resolved.pop()
                    else:
                        resolved.append(part)
                stem = "/".join(resolved)
                candidates = [stem + ext for ext in ("", ".ts", ".tsx", ".js", ".jsx", ".py", "/index.ts", "/index.js")]
            else:
                stem = module.replace(".", "/").strip("/")
                candidates = [stem + ".py", stem + "/__init__.py", stem + ".go", stem]
            for candidate in candidates:
                if candidate in paths:
                    return candidate
            for candidate in candidates[:2]:
                matches = sorted(p for p in paths if p.endswith("/" + candidate))
                if matches:
                    return matches[0]
            return None
