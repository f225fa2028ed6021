"""The repository of the workspace: its index, kept fresh, and the context gathered from it on demand.

It owns the index, the open-buffer overlay (unsaved text wins over disk), the list of recently
edited files, and the comparison of the index with the disk. The language server feeds it
document events; its upkeep thread (``infill_lsp.context.upkeep``) feeds it disk events; the inference
thread asks it for the chunks a prompt should see, best first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from infill_lsp.context.chunking import Chunk
from infill_lsp.context.cursor import Binding, import_bindings
from infill_lsp.context.ignore import FileRules, WorkspaceFilter, is_secret
from infill_lsp.context.index import RepoIndex
from infill_lsp.context.ranking import Query, candidates, near_cursor_text, put_first
from infill_lsp.context.resolve import definitions_at_cursor
from infill_lsp.context.snapshot import CursorSnapshot
from infill_lsp.context.upkeep import Upkeep

logger = logging.getLogger(__name__)

RECENT_FILES = 8
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Snippet:
    """A chunk as it goes into the prompt."""

    path: str
    text: str
    start_line: int = 0
    at_cursor: bool = False
    """It defines the name being typed (a shortened prompt keeps it: it is small and it matters most)."""


class _Ranking(NamedTuple):
    """What :meth:`Repository.gather` keeps while the cursor stays on one line."""

    basis: tuple
    """What it was computed from."""
    query: Query
    ranked: list[Chunk]
    bindings: dict[str, Binding]
    """The current file's imports (for the definitions of the name being typed)."""


class Repository:
    """Index, overlay and retrieval for a set of workspace folders."""

    def __init__(self, rules: FileRules | None = None) -> None:
        self.rules = rules or FileRules()
        self.index = RepoIndex()
        self._filters: dict[Path, WorkspaceFilter] = {}
        self._buffers: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._recent: deque[str] = deque(maxlen=RECENT_FILES)
        self._lock = threading.RLock()
        self._unindexable: dict[str, float] = {}  # key → mtime of files read and refused
        self._stopped = threading.Event()
        self.indexing_done = threading.Event()
        self.upkeep: Upkeep | None = None
        self.walked_folders: set[Path] = set()
        """The folders the last whole walk entered (none skipped or ignored)."""
        self._ranked: _Ranking | None = None
        """The last ranking and what it was computed from (see :meth:`gather`)."""

    # -- folders and files -------------------------------------------------------------------
    def add_folder(self, root: Path) -> None:
        """Register a workspace folder (indexed by :meth:`index_all` or the background thread)."""
        root = root.resolve()
        with self._lock:
            self._filters.setdefault(root, WorkspaceFilter(root, self.rules))

    @property
    def folders(self) -> list[Path]:
        """The workspace folders."""
        with self._lock:
            return list(self._filters)

    def locate(self, path: Path) -> tuple[WorkspaceFilter, str] | None:
        """The folder filter owning ``path`` and its index key, or None if outside every folder."""
        absolute = Path(os.path.abspath(path))
        with self._lock:
            filters = sorted(self._filters.items(), key=lambda item: -len(item[0].parts))
        for root, rules in filters:
            try:
                relative = absolute.relative_to(root).as_posix()
            except ValueError:
                continue
            return rules, relative if len(filters) == 1 else f"{root.name}/{relative}"
        return None

    def is_private(self, path: Path) -> bool:
        """Whether ``path`` is a secret or ignored in its workspace folder (see ``WorkspaceFilter.private``)."""
        located = self.locate(path)
        return located[0].private(Path(os.path.abspath(path))) if located else is_secret(path.name)

    def index_all(self, on_progress: ProgressCallback | None = None) -> int:
        """Index every folder now; returns the number of files indexed."""
        walked: set[Path] = set()
        paths = [(rules, path) for rules in list(self._filters.values()) for path in rules.walk(walked=walked)]
        self.walked_folders = walked
        indexed = 0
        for done, (_rules, path) in enumerate(paths, start=1):
            if self._stopped.is_set():
                break
            indexed += self.refresh(path)
            if on_progress and done % 200 == 0:
                on_progress(done, len(paths))
        if on_progress:
            on_progress(len(paths), len(paths))
        self.indexing_done.set()
        logger.info("indexed %d files (%d chunks) in %d folder(s)", indexed, self.index.chunk_count(),
                    len(self._filters))
        return indexed

    def refresh(self, path: Path) -> bool:
        """Re-read one file from disk (unless an open buffer overrides it); True if indexed."""
        located = self.locate(path)
        if located is None:
            return False
        rules, key = located
        with self._lock:
            buffer = self._buffers.get(key)
        if buffer is not None:
            return True
        try:
            mtime = path.stat().st_mtime  # before reading: a write during the read leaves it stale
        except OSError:
            mtime = 0.0
        text = rules.read_text(Path(os.path.abspath(path)))
        if text is None:
            self.index.remove_file(key)
            self._unindexable[key] = mtime
            return False
        self._unindexable.pop(key, None)
        self.index.update_file(key, text, mtime)
        return True

    def forget(self, path: Path) -> None:
        """A file or folder was deleted or moved away."""
        located = self.locate(path)
        if located is None:
            return
        _rules, key = located
        self._unindexable.pop(key, None)
        for indexed in self.index.paths():
            if indexed == key or indexed.startswith(key.rstrip("/") + "/"):
                self.index.remove_file(indexed)

    # -- editor buffers -----------------------------------------------------------------------
    def set_buffer(self, path: Path, text: str, *, edited: bool) -> None:
        """An open document's current text; it replaces the disk version in the index.

        Cheap on purpose (it runs on every keystroke): the buffer is re-chunked lazily, when
        context is next gathered.
        """
        located = self.locate(path)
        if located is None:
            return
        rules, key = located
        if not rules.allows_path(Path(os.path.abspath(path))):
            return
        with self._lock:
            self._buffers[key] = text
            self._dirty.add(key)
            if edited:
                if key in self._recent:
                    self._recent.remove(key)
                self._recent.appendleft(key)
        if self.upkeep is not None:
            self.upkeep.notify_buffers()

    def flush_buffers(self) -> None:
        """Re-chunk the open buffers edited since the last call (the indexer thread does, after
        a pause in typing; a keystroke's gather never waits for it)."""
        with self._lock:
            dirty = [(key, self._buffers[key]) for key in self._dirty if key in self._buffers]
            self._dirty.clear()
        for key, text in dirty:
            self.index.update_file(key, text, time.time())

    def open_buffer_keys(self) -> list[str]:
        """Index keys of the documents open in the editor."""
        with self._lock:
            return list(self._buffers)

    def close_buffer(self, path: Path) -> None:
        """A document was closed: the disk version counts again."""
        located = self.locate(path)
        if located is None:
            return
        with self._lock:
            self._buffers.pop(located[1], None)
            self._dirty.discard(located[1])
        self.refresh(path)

    # -- retrieval ----------------------------------------------------------------------------
    def gather(self, cursor: CursorSnapshot, window: tuple[int, int]) -> list[Snippet]:
        """Chunks for a prompt about ``cursor``, best first: the definitions of the name being
        typed, then the ranking (fit them to a budget with :func:`infill_lsp.context.ranking.select`).

        The ranking is computed once per cursor line: while the user types in a line, only the
        definitions of the name being typed are looked up again (ranking reads the lines around
        the cursor, and the typed name is what changes between those keystrokes).
        """
        if self.upkeep is None:
            self.flush_buffers()  # no indexer thread (the CLI): nothing else would
        path, prefix, suffix = cursor.document, cursor.prefix, cursor.suffix
        located = self.locate(path) if path is not None else None
        key = located[1] if located else (path.name if path else "")
        with self._lock:
            recent = tuple(p for p in self._recent if p != key)
            buffers = tuple(p for p in self._buffers if p != key)
        line_start = len(prefix) - len(cursor.line_prefix)
        line_end = len(cursor.line_suffix)
        basis = (key, window, hash(prefix[:line_start]), hash(suffix[line_end:]), recent, buffers,
                 self.index.generation_besides(key))
        if self._ranked is None or self._ranked.basis != basis:
            query = Query(key, near_cursor_text(prefix, suffix), window, self._imported_files(key), recent, buffers,
                          prefix[-4000:])
            self._ranked = _Ranking(basis, query, candidates(self.index, query), import_bindings(prefix + suffix))
        ranking = self._ranked
        at_cursor = definitions_at_cursor(self.index, key, prefix, prefix + suffix, ranking.bindings)
        first = {chunk.key for chunk in at_cursor}
        return [Snippet(chunk.path, chunk.text, chunk.start_line, chunk.key in first)
                for chunk in put_first(at_cursor, ranking.ranked, ranking.query)]

    def _imported_files(self, key: str) -> tuple[str, ...]:
        entry = self.index.file(key)
        if entry is None:
            return ()
        resolved = (self.index.resolve_import(key, module) for module in entry.imports)
        return tuple(dict.fromkeys(p for p in resolved if p and p != key))

    # -- keeping the index equal to the disk -------------------------------------------------
    def sync_below(self, folder: Path, *, recursive: bool = True) -> set[Path]:
        """Make the index agree with the disk below ``folder`` (a workspace folder or one inside it;
        its files alone unless ``recursive``).

        Files whose modification time the index already has are not read again, nor are files
        already found unindexable (binary, generated, too large) and unchanged since. Indexed
        files that are gone or now excluded are dropped. Returns the folders walked.
        """
        folder = Path(os.path.abspath(folder))
        located = self.locate(folder)
        if located is None:
            return set()
        rules, key = located
        prefix = "" if key in ("", ".") else key.removesuffix("/.").rstrip("/") + "/"
        walked: set[Path] = set()
        found: set[str] = set()
        paths = rules.walk(folder, walked, recursive=recursive) if rules.allows_folder(folder) else ()
        for path in paths:
            if self._stopped.is_set():
                return walked
            path_key = self.locate(path)[1]
            found.add(path_key)
            if self._stale(path_key, path):
                self.refresh(path)
        with self._lock:
            buffers = set(self._buffers)
        for indexed in self.index.paths():
            inside = indexed.startswith(prefix) and (recursive or "/" not in indexed[len(prefix):])
            if inside and indexed not in found and indexed not in buffers:
                self.index.remove_file(indexed)
        if recursive:
            self.walked_folders = {f for f in self.walked_folders if not f.is_relative_to(folder)} | walked
        return walked

    def _stale(self, key: str, path: Path) -> bool:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return True
        entry = self.index.file(key)
        if entry is not None:
            return entry.mtime != mtime
        return self._unindexable.get(key) != mtime

    def path_of(self, key: str) -> Path | None:
        """The file an index key stands for (the inverse of :meth:`locate`)."""
        roots = self.folders
        if len(roots) == 1:
            return roots[0] / key
        head, _, rest = key.partition("/")
        return next((root / rest for root in roots if root.name == head), None)

    # -- background work ----------------------------------------------------------------------
    def start(self, on_progress: ProgressCallback | None = None, on_warning: Callable[[str], None] | None = None,
              *, watch: bool = True) -> None:
        """Index in the background, then keep the index equal to the disk (see ``infill_lsp.context.upkeep``);
        without ``watch`` only :meth:`notify_changed` reports changes (the editor watches)."""
        self.upkeep = Upkeep(self, on_progress, on_warning or (lambda message: None), watch=watch)
        self.upkeep.start()

    def notify_changed(self, path: Path) -> None:
        """A file or folder changed on disk, as the editor reports it."""
        if self.upkeep is not None:
            self.upkeep.notify_changed(path)

    def stop(self) -> None:
        """Stop background work and watching."""
        self._stopped.set()
        if self.upkeep is not None:
            self.upkeep.stop()
