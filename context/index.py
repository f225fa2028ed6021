"""The repository index: chunks of every indexed file, a BM25 inverted index over their
identifiers, a map from defined names to the chunks that define them, and the symbol table
(every definition by qualified name, found by prefix or subword of a half-typed name).

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

from infill_lsp.context.chunking import Chunk, chunk_text, syntax_tree
from infill_lsp.context.languages import module_files
from infill_lsp.context.symbols import SIGNATURE_LINES, Symbol, head_of, matches_typed, symbols_of

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
    symbols: tuple[Symbol, ...] = ()


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
        self._symbol_heads: dict[str, dict[str, list[Symbol]]] = defaultdict(dict)
        """First letters of a symbol's name → file → its symbols whose names start so."""
        self.generation = 0
        """Counts changes: what was computed from the index at one generation holds until the next."""
        self._changes: Counter[str] = Counter()
        self._lookups: dict[tuple[str, ...], object] = {}
        """Import resolutions of this generation: a keystroke asks for the same ones again, and
        each unresolved one scans every indexed path."""
        self._total_length = 0
        self._fingerprint = 0

    # -- writing ------------------------------------------------------------------------------
    def update_file(self, path: str, text: str, mtime: float = 0.0) -> FileEntry:
        """(Re)index one file from its text."""
        root = syntax_tree(path, text)
        chunks = tuple(chunk_text(path, text, root))
        symbols = tuple(symbols_of(root)) if root is not None else ()
        entry = FileEntry(path, mtime, chunks, tuple(imported_modules(text)), symbols)
        with self._lock:
            self._drop(path)
            self._files[path] = entry
            self._fingerprint ^= _entry_hash(entry.path, entry.mtime)
            for chunk in chunks:
                self._add_chunk(chunk)
            for symbol in symbols:
                self._symbol_heads[head_of(symbol.name)].setdefault(path, []).append(symbol)
            self._changed(path)
        return entry

    def remove_file(self, path: str) -> None:
        """Forget a deleted or newly ignored file."""
        with self._lock:
            self._drop(path)
            self._changed(path)

    def _changed(self, path: str) -> None:
        self.generation += 1
        self._changes[path] += 1
        self._lookups.clear()

    def generation_besides(self, path: str) -> int:
        """The generation, not counting the changes of ``path`` (a document being typed in,
        re-chunked at each pause: what is ranked for its own cursor does not depend on it)."""
        with self._lock:
            return self.generation - self._changes[path]

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
        for head in {head_of(symbol.name) for symbol in entry.symbols}:
            files = self._symbol_heads.get(head)
            if files is not None:
                files.pop(path, None)
                if not files:
                    del self._symbol_heads[head]

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

    def symbols_matching(self, typed: str, *, paths: Iterable[str] | None = None,
                         container: str | None = "") -> list[tuple[str, Symbol]]:
        """``(path, symbol)`` for the symbols a user who typed ``typed`` may be writing.

        ``paths``: only in these files (default: every file that has such a name).
        ``container``: ``""`` top-level names only, a class name for its members, None for any.
        Exact names first, then shorter names (the likelier completion), then by path.
        """
        with self._lock:
            if paths is None:
                bucket = self._symbol_heads.get(head_of(typed), {})
                places = [(path, bucket[path]) for path in sorted(bucket)]
            else:
                places = [(path, self._files[path].symbols) for path in paths if path in self._files]
            found = []
            for path, symbols in places:
                for symbol in symbols:
                    in_scope = container is None or symbol.qualified == (f"{container}.{symbol.name}" if container
                                                                         else symbol.name)
                    if in_scope and (symbol.name == typed or matches_typed(typed, symbol.name)):
                        found.append((path, symbol))
        return sorted(found, key=lambda item: (item[1].name != typed, len(item[1].name), item[0], item[1].line))

    def chunk_of(self, path: str, symbol: Symbol, *, signature_only: bool = False) -> Chunk | None:
        """The chunk that holds a symbol's definition, or only its first lines (``signature_only``)."""
        with self._lock:
            entry = self._files.get(path)
        holding = [chunk for chunk in (entry.chunks if entry else ())
                   if chunk.start_line <= symbol.line < chunk.end_line]
        if not holding:
            return None
        chunk = min(holding, key=lambda chunk: chunk.end_line - chunk.start_line)
        last = min(symbol.end_line, symbol.line + SIGNATURE_LINES) if signature_only else chunk.end_line
        if not signature_only or last >= chunk.end_line and symbol.line == chunk.start_line:
            return chunk
        lines = chunk.text.splitlines(keepends=True)[symbol.line - chunk.start_line:last - chunk.start_line]
        text = "".join(lines)
        return Chunk(path, symbol.line, symbol.line + len(lines), text, frozenset({symbol.name}),
                     tuple(chunk.identifiers))

    def package_files(self, import_path: str) -> list[str]:
        """The files of a Go package imported as ``import_path``: those of the indexed folder
        that ends with the most of its elements (the module's own path prefix is not on disk)."""
        with self._lock:
            key = ("package", import_path)
            if key not in self._lookups:
                self._lookups[key] = self._package_files(import_path)
            return list(self._lookups[key])

    def _package_files(self, import_path: str) -> list[str]:
        parts = import_path.strip("/").split("/")
        with self._lock:
            by_folder: dict[str, list[str]] = defaultdict(list)
            for path in self._files:
                if path.endswith(".go") and not path.endswith("_test.go"):
                    by_folder[path.rsplit("/", 1)[0] if "/" in path else ""].append(path)
        for depth in range(len(parts), 0, -1):
            tail = "/".join(parts[-depth:])
            folders = sorted(f for f in by_folder if f == tail or f.endswith("/" + tail))
            if folders:
                return sorted(by_folder[folders[0]])
        return []

    def resolve_import(self, importer: str, module: str) -> str | None:
        """The indexed file an import in ``importer`` most likely refers to."""
        with self._lock:
            key = ("import", importer, module)
            if key not in self._lookups:
                self._lookups[key] = self._resolve_import(importer, module)
            return self._lookups[key]

    def _resolve_import(self, importer: str, module: str) -> str | None:
        candidates = module_files(importer, module)
        with self._lock:
            paths = self._files.keys()
            for candidate in candidates:
                if candidate in paths:
                    return candidate
            for candidate in candidates[:4]:
                matches = sorted(p for p in paths if p.endswith("/" + candidate))
                if matches:
                    return matches[0]
            return None
