"""File-system watching: which folders are watched, for which events, and where events go.

The watcher only reports paths; ``infill_lsp.context.upkeep`` decides what they mean for the index.

On Linux one inotify descriptor (watchdog's ``InotifyFD``: one reader thread however many
folders) holds one non-recursive watch per folder that the upkeep asks for: folders that hold
indexed files, their ancestors and folders created while the server runs. Nothing inside
``.git``, virtualenvs, ``node_modules`` or ignored folders is ever watched, because the kernel
then never queues their events. The mask holds creations, closes after a write, deletions and
moves, never opens or reads: the server's own walks and file reads queue no event at all (with
opens in the mask, each walk overflowed the queue, and each overflow's walk overflowed it again).

Elsewhere (macOS, Windows, BSD) watchdog's native observer watches each folder recursively,
filtered to the same kinds of events; those back ends report changes per tree, not per folder.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class ChangeSink(Protocol):
    """Where watched changes go (the index upkeep)."""

    def notify_changed(self, path: Path) -> None:
        """A file or folder was created, written, deleted or moved."""

    def notify_overflow(self) -> None:
        """Events were lost: the index must be compared with the disk."""


class Watcher(Protocol):
    """A set of watched folders."""

    def watch(self, folders: Iterable[Path]) -> None:
        """Add watches on these folders (those already watched are kept); OSError when refused."""

    def watched(self) -> set[Path]:
        """The folders watched now."""

    def stop(self) -> None:
        """Remove every watch and stop the reader thread."""


def start_watching(sink: ChangeSink, roots: list[Path]) -> Watcher:
    """The best watcher this system has; it starts with no watch (the upkeep adds them)."""
    if sys.platform.startswith("linux"):
        return InotifyWatcher(sink)
    return TreeWatcher(sink, roots)


class InotifyWatcher:
    """Non-recursive inotify watches on chosen folders, one descriptor and one thread."""

    def __init__(self, sink: ChangeSink) -> None:
        from watchdog.observers.inotify_c import InotifyConstants as C
        from watchdog.observers.inotify_c import InotifyFD

        self._flags = C
        self._mask = (C.IN_CREATE | C.IN_CLOSE_WRITE | C.IN_DELETE | C.IN_MOVED_FROM | C.IN_MOVED_TO
                      | C.IN_DELETE_SELF | C.IN_ONLYDIR | C.IN_DONT_FOLLOW | C.IN_EXCL_UNLINK)
        self._sink = sink
        self._lock = threading.Lock()
        self._path_of: dict[int, bytes] = {}
        self._wd_of: dict[bytes, int] = {}
        self._fd = InotifyFD()
        self._fd.daemon = True
        self._fd.start()

    def watch(self, folders: Iterable[Path]) -> None:
        for folder in folders:
            path = os.fsencode(folder)
            with self._lock:
                if path in self._wd_of:
                    continue
            try:
                wd = self._fd.add_callback(path, self._mask, self, 0)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):  # gone, or no longer a folder
                    continue
                raise
            if wd < 0:  # not readable by us: watchdog reports EACCES as -1
                continue
            with self._lock:
                self._path_of[wd] = path
                self._wd_of[path] = wd

    def watched(self) -> set[Path]:
        with self._lock:
            return {Path(os.fsdecode(path)) for path in self._wd_of}

    def stop(self) -> None:
        self._fd.stop()

    def _unwatch_below(self, folder: bytes) -> None:
        # A folder moved or deleted: its watches go now, before a MOVED_TO of the same inode can
        # arrive, so that one inode never has two paths here.
        prefix = folder + b"/"
        with self._lock:
            gone = [(wd, path) for path, wd in self._wd_of.items() if path == folder or path.startswith(prefix)]
            for wd, path in gone:
                del self._wd_of[path]
                self._path_of.pop(wd, None)
        if gone:
            self._fd.remove_callbacks([(wd, 0) for wd, _path in gone])

    # -- watchdog's WatchCallback, called on the reader thread --------------------------------
    def on_event(self, event) -> None:
        with self._lock:
            folder = self._path_of.get(event.wd)
        if folder is None:
            return
        path = os.path.join(folder, event.name) if event.name else folder
        if event.is_directory and (event.is_moved_from or event.is_delete):
            self._unwatch_below(path)
        self._sink.notify_changed(Path(os.fsdecode(path)))

    def on_watch_deleted(self, wd: int) -> None:
        with self._lock:
            path = self._path_of.pop(wd, None)
            if path is not None and self._wd_of.get(path) == wd:
                del self._wd_of[path]

    def on_queue_overflow(self) -> None:
        self._sink.notify_overflow()


class TreeWatcher:
    """watchdog's native recursive observer, for systems without inotify."""

    def __init__(self, sink: ChangeSink, roots: list[Path]) -> None:
        from watchdog import events
        from watchdog.observers import Observer

        class Forward(events.FileSystemEventHandler):
            def on_any_event(self, event: events.FileSystemEvent) -> None:
                for path in (event.src_path, getattr(event, "dest_path", "")):
                    if path:
                        sink.notify_changed(Path(os.fsdecode(path)))

        self._kinds = [events.FileCreatedEvent, events.DirCreatedEvent, events.FileModifiedEvent,
                       events.FileClosedEvent, events.FileDeletedEvent, events.DirDeletedEvent,
                       events.FileMovedEvent, events.DirMovedEvent]
        self._handler = Forward()
        self._roots = roots
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()
        self._scheduled: set[Path] = set()

    def watch(self, folders: Iterable[Path]) -> None:
        del folders  # each root is watched whole
        for root in self._roots:
            if root not in self._scheduled:
                self._observer.schedule(self._handler, str(root), recursive=True, event_filter=self._kinds)
                self._scheduled.add(root)

    def watched(self) -> set[Path]:
        return set(self._scheduled)

    def stop(self) -> None:
        self._observer.stop()
