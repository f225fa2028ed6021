"""ContextEngine: the repository context of the workspace, kept fresh, gathered on demand.

It owns the index, the open-buffer overlay (unsaved text wins over disk), the list of recently
edited files and the indexer thread. The language server feeds it document events; the file
watcher feeds it disk events; the inference thread asks it for chunks within a token budget.
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

from context.chunking import Chunk
from context.ignore import FileRules, WorkspaceFilter, is_secret
from context.index import RepoIndex
from context.ranking import Query, candidates, near_cursor_text, select

logger = logging.getLogger(__name__)

RECENT_FILES = 8
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Snippet:
    """A chunk as it goes into the prompt."""

    path: str
    text: str


class ContextEngine:
    """Index, overlay and retrieval for a set of workspace folders."""

    def __init__(self, rules: FileRules | None = None) -> None:
        self.rules = rules or FileRules()
        self.index = RepoIndex()
        self._filters: dict[Path, WorkspaceFilter] = {}
        self._buffers: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._recent: deque[str] = deque(maxlen=RECENT_FILES)
        self._lock = threading.RLock()
        self._pending: set[Path] = set()
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self.indexing_done = threading.Event()

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
        paths = [(rules, path) for rules in list(self._filters.values()) for path in rules.walk()]
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
        logger.info("indexed %d files (%d chunks) in %d folder(s)", indexed, self.index.chunk_count(), len(self._filters))
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
        text = rules.read_text(Path(os.path.abspath(path)))
        if text is None:
            self.index.remove_file(key)
            return False
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        self.index.update_file(key, text, mtime)
        return True

    def forget(self, path: Path) -> None:
        """A file or folder was deleted or moved away."""
        located = self.locate(path)
        if located is None:
            return
        _rules, key = located
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

    def _flush_buffers(self) -> None:
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
    def gather(self, path: Path | None, prefix: str, suffix: str, window: tuple[int, int], budget: int,
               cost: Callable[[Chunk], int]) -> list[Snippet]:
        """Chunks for a prompt about ``path``, within ``budget`` tokens as counted by ``cost``."""
        if budget <= 0:
            return []
        self._flush_buffers()
        located = self.locate(path) if path is not None else None
        key = located[1] if located else (path.name if path else "")
        entry = self.index.file(key)
        imports = ()
        if entry is not None:
            resolved = (self.index.resolve_import(key, module) for module in entry.imports)
            imports = tuple(dict.fromkeys(p for p in resolved if p and p != key))
        with self._lock:
            recent = tuple(p for p in self._recent if p != key)
            buffers = tuple(p for p in self._buffers if p != key)
        query = Query(key, near_cursor_text(prefix, suffix), window, imports, recent, buffers, prefix[-4000:])
        chosen = select(candidates(self.index, query), budget, cost)
        return [Snippet(chunk.path, chunk.text) for chunk in chosen]

    # -- background work ----------------------------------------------------------------------
    def start(self, on_progress: ProgressCallback | None = None, on_warning: Callable[[str], None] | None = None) -> None:
        """Index in the background, then keep the index fresh from file-system events."""
        from context.watcher import start_watching

        def run() -> None:
            # Watch first: a file changed while the initial walk runs is queued, not lost.
            start_watching(self, on_warning or (lambda message: None))
            try:
                self.index_all(on_progress)
                self._flush_buffers()
            except Exception:
                logger.exception("indexing failed")
                self.indexing_done.set()
            self._process_changes()

        threading.Thread(target=run, name="infill-indexer", daemon=True).start()

    def notify_changed(self, path: Path) -> None:
        """Queue a path the file system reports as changed (called from watcher threads)."""
        with self._lock:
            self._pending.add(path)
        self._wakeup.set()

    def _process_changes(self) -> None:
        while not self._stopped.is_set():
            self._wakeup.wait()
            time.sleep(0.1)  # coalesce bursts (save = truncate + write + rename)
            self._wakeup.clear()
            with self._lock:
                batch, self._pending = self._pending, set()
            for path in sorted(batch):
                try:
                    self._apply_change(path)
                except Exception:
                    logger.exception("could not update the index for %s", path)

    def _apply_change(self, path: Path) -> None:
        if path.name in (".gitignore", ".infillignore"):
            located = self.locate(path)
            if located:
                located[0].forget_ignore_file(Path(os.path.abspath(path.parent)))
        if path.is_dir() and not path.is_symlink():
            located = self.locate(path)
            if located:
                for child in located[0].walk():
                    if path in child.parents:
                        self.refresh(child)
        elif path.exists():
            self.refresh(path)
        else:
            self.forget(path)

    def stop(self) -> None:
        """Stop background work."""
        self._stopped.set()
        self._wakeup.set()
