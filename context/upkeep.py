"""Index upkeep: the one thread that keeps the repository index equal to the disk.

It indexes the workspace once, places the watches (``infill_lsp.context.watcher``), and then applies what
the watcher reports. Paths are queued and a batch closes only after a quiet moment, so a branch
switch or an ``npm install`` that touches thousands of files is one batch. Each path in a batch
costs one look at that path, and a folder costs a walk of that folder alone.

When the kernel drops events (its queue overflowed) the index is compared with the disk, once:
a walk that stats each indexable file and reads only those whose modification time changed.
However many overflows arrive meanwhile, they ask for that one comparison, and comparisons are
spaced by a delay that doubles while overflows keep coming.

When the system refuses watches, the folders of the open documents are polled instead: a cost
bounded by ``POLL_MAX_FOLDERS``, whatever the size of the tree. When the editor watches files
for the server (``workspace/didChangeWatchedFiles``), no watch is placed at all: the editor's
events come in through :meth:`Upkeep.notify_changed` like the watcher's.

Edited open documents are re-chunked here too, in the same batches (after a pause in typing),
so that a keystroke's gather on the inference thread never does it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from infill_lsp.context.ignore import IGNORE_FILES
from infill_lsp.context.watcher import Watcher, start_watching

logger = logging.getLogger(__name__)

QUIET_SECONDS = 0.1
"""A batch of changes closes once no event came for this long…"""
MAX_BATCH_SECONDS = 2.0
"""…or once it has been open this long."""
POLL_SECONDS = 3.0
POLL_MAX_FOLDERS = 32
INDEXER_NICENESS = 10
"""Added to the indexer thread's niceness (see ``_yield_cpu_to_completions``)."""


@dataclass
class UpkeepStats:
    """What the upkeep has done, for the status request, tests and the idle benchmark."""

    events: int = 0
    """Paths the watcher reported."""
    batches: int = 0
    overflows: int = 0
    rescans: int = 0
    pending: int = 0
    """Paths queued or being applied now."""
    watches: int = 0


class RescanPacer:
    """When an overflow's comparison with the disk may run.

    The first runs at once. One that follows the previous within twice the current delay doubles
    the delay (up to ``longest``); a quiet spell brings it back to ``shortest``.
    """

    def __init__(self, shortest: float = 2.0, longest: float = 300.0) -> None:
        self.shortest, self.longest = shortest, longest
        self.delay = shortest
        self._last: float | None = None

    def wait_before(self, now: float) -> float:
        """Seconds until a rescan may run (0: now)."""
        return 0.0 if self._last is None else max(0.0, self._last + self.delay - now)

    def ran(self, now: float) -> None:
        """A rescan started at ``now``."""
        if self._last is not None and now - self._last <= 2 * self.delay:
            self.delay = min(self.delay * 2, self.longest)
        else:
            self.delay = self.shortest
        self._last = now


class Upkeep:
    """The indexer thread of one ``Repository``."""

    def __init__(self, repository, on_progress: Callable[[int, int], None] | None,
                 on_warning: Callable[[str], None], *, watch: bool = True) -> None:
        self._repository = repository
        self._watch_files = watch
        self._on_progress = on_progress
        self._on_warning = on_warning
        self._lock = threading.Lock()
        self._queued: set[Path] = set()
        self._overflowed = False
        self._buffers_edited = False
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self.watcher: Watcher | None = None
        self.polling = False
        self.pacer = RescanPacer()
        self.stats = UpkeepStats()

    def start(self) -> None:
        threading.Thread(target=self._run, name="infill-indexer", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._wakeup.set()
        if self.watcher is not None:
            self.watcher.stop()

    # -- the watcher's side (its reader thread) ------------------------------------------------
    def notify_changed(self, path: Path) -> None:
        with self._lock:
            self._queued.add(path)
            self.stats.events += 1
            self.stats.pending = len(self._queued)
        self._wakeup.set()

    def notify_buffers(self) -> None:
        """An open document was edited: re-chunk it once typing pauses (the editor's side)."""
        with self._lock:
            self._buffers_edited = True
        self._wakeup.set()

    def notify_overflow(self) -> None:
        with self._lock:
            self._overflowed = True
            self.stats.overflows += 1
        self._wakeup.set()

    # -- the indexer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        repository = self._repository
        _yield_cpu_to_completions()
        try:
            if self._watch_files:
                self.watcher = start_watching(self, repository.folders)
        except OSError as exc:  # no inotify instance left, say
            self._fall_back_to_polling(exc)
        self.stats.pending = 1  # until the watches are placed and the first walk is checked
        try:
            repository.index_all(self._on_progress)
            self._watch(folders_to_watch(repository))
            # Files saved while the first walk ran, in folders not yet watched then.
            for root in repository.folders:
                repository.sync_below(root)
        except Exception:
            logger.exception("indexing failed")
            repository.indexing_done.set()
        with self._lock:
            self.stats.pending = len(self._queued)
        if self._stopped.is_set() and self.watcher is not None:
            self.watcher.stop()
        while not self._stopped.is_set():
            self._wakeup.wait(self._next_timeout())
            self._gather_batch()
            try:
                with self._lock:
                    edited, self._buffers_edited = self._buffers_edited, False
                if edited:
                    repository.flush_buffers()
                self._apply_batch()
                if self.polling:
                    self._poll_open_folders()
            except Exception:
                logger.exception("could not update the index")

    def _next_timeout(self) -> float | None:
        waits = [POLL_SECONDS] if self.polling else []
        with self._lock:
            if self._overflowed:
                waits.append(self.pacer.wait_before(time.monotonic()))
        return min(waits) if waits else None

    def _gather_batch(self) -> None:
        # Let a burst finish: the batch closes after a quiet moment, or after MAX_BATCH_SECONDS.
        closes = time.monotonic() + MAX_BATCH_SECONDS
        while not self._stopped.is_set() and self._wakeup.is_set() and time.monotonic() < closes:
            self._wakeup.clear()
            self._stopped.wait(QUIET_SECONDS)

    def _apply_batch(self) -> None:
        repository, now = self._repository, time.monotonic()
        with self._lock:
            rescan = self._overflowed and self.pacer.wait_before(now) == 0
            if rescan:
                self._overflowed = False
            batch, self._queued = self._queued, set()
            self.stats.pending = max(len(batch), int(rescan))
        if rescan:
            # Compared with the disk whole: the queued paths are part of that comparison.
            self.pacer.ran(now)
            self.stats.rescans += 1
            logger.warning("file events were lost; comparing the index with the disk (rescan %d, next no sooner "
                           "than %.0f s)", self.stats.rescans, self.pacer.delay)
            for root in repository.folders:
                repository.sync_below(root)
            self._watch(folders_to_watch(repository))
        elif batch:
            self.stats.batches += 1
            created: set[Path] = set()
            new_trees: list[Path] = []
            for path in sorted(batch):
                found = self._apply(path)
                created |= found
                if found:
                    new_trees.append(path)
            self._watch(created | folders_to_watch(repository, among=batch))
            # A file made in a new folder after it was read and before its watch was placed reported
            # nothing: read the new folders once more, now that their watches report what follows.
            for tree in new_trees:
                repository.sync_below(tree)
        with self._lock:
            self.stats.pending = len(self._queued)

    def _apply(self, path: Path) -> set[Path]:
        """One reported path; returns the folders found inside a created folder."""
        repository = self._repository
        if path.name in IGNORE_FILES:
            located = repository.locate(path)
            if located is not None:
                located[0].forget_ignore_file(path.parent)
                repository.sync_below(path.parent)
                return set()
        if path.is_dir() and not path.is_symlink():  # created or moved here: watched from now on
            return repository.sync_below(path)
        if path.exists():
            repository.refresh(path)
        else:
            repository.forget(path)
        return set()

    def _watch(self, folders: set[Path]) -> None:
        if self.watcher is None or self.polling or not folders:
            return
        try:
            self.watcher.watch(sorted(folders))
        except OSError as exc:
            self._fall_back_to_polling(exc)
        self.stats.watches = len(self.watcher.watched())

    # -- the fallback without watches ------------------------------------------------------------
    def _fall_back_to_polling(self, exc: OSError) -> None:
        # The watches already placed stay: they still report their folders.
        self.polling = True
        message = (f"Infill cannot watch the workspace for changes ({exc.strerror or exc}); "
                   "raise fs.inotify.max_user_watches. Until then, only the folders of open files are re-read.")
        logger.warning("%s", message)
        self._on_warning(message)

    def _poll_open_folders(self) -> None:
        repository = self._repository
        folders = {path.parent for path in map(repository.path_of, repository.open_buffer_keys()) if path is not None}
        for folder in sorted(folders)[:POLL_MAX_FOLDERS]:
            if folder.is_dir():
                repository.sync_below(folder, recursive=False)


def _yield_cpu_to_completions() -> None:
    """Lower this thread's scheduling priority: indexing a large workspace takes the cores for
    seconds to minutes, and a keystroke's completion must not wait behind it. (Linux schedules
    threads one by one; elsewhere this does nothing.)"""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + INDEXER_NICENESS))
    except (AttributeError, OSError) as exc:
        logger.debug("indexing keeps its priority: %s", exc)


def folders_to_watch(repository, among: Iterable[Path] | None = None) -> set[Path]:
    """The workspace folders, every folder holding an indexed file, and their ancestors
    (only those of the files ``among``, when given: a batch's changed paths).

    The whole set also has walked folders that hold no indexed file yet (a new file there is
    then seen at once), shallowest first, while the watches stay within twice the folders
    that hold indexed files.
    """
    wanted = set(repository.folders)
    if among is None:
        paths = map(repository.path_of, repository.index.paths())
    else:
        paths = (path for path in among if (located := repository.locate(path)) and repository.index.file(located[1]))
    holding = set()
    for path in paths:
        if path is None:
            continue
        folder = path.parent
        holding.add(folder)
        while folder not in wanted and folder != folder.parent:
            wanted.add(folder)
            folder = folder.parent
    if among is None:
        spare = sorted(repository.walked_folders - wanted, key=lambda folder: (len(folder.parts), folder))
        wanted.update(spare[:max(0, 2 * len(holding) - len(wanted))])
    return wanted
