"""File-system watching: watchdog events → ``ContextEngine.notify_changed``.

Watchdog handlers run on watchdog's threads and only queue paths; the engine's indexer thread
coalesces and applies them. If the OS refuses more watches (inotify limits), the watcher says
so once and falls back to polling the folders of open documents.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

logger = logging.getLogger(__name__)

POLL_SECONDS = 3.0


class _Forward(FileSystemEventHandler):
    def __init__(self, engine) -> None:
        self._engine = engine

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed", "closed_no_write"):
            return
        self._engine.notify_changed(Path(str(event.src_path)))
        destination = getattr(event, "dest_path", "")
        if destination:
            self._engine.notify_changed(Path(str(destination)))


def start_watching(engine, on_warning) -> None:
    """Watch every folder of ``engine``; degrade to polling if watches are refused."""
    observer = Observer()
    try:
        for root in engine.folders:
            observer.schedule(_Forward(engine), str(root), recursive=True)
        observer.daemon = True
        observer.start()
    except OSError as exc:
        message = (f"Infill cannot watch the workspace for changes ({exc.strerror or exc}); "
                   "raise fs.inotify.max_user_watches. Until then, only the folders of open files are re-read.")
        logger.warning("%s", message)
        on_warning(message)
        threading.Thread(target=_poll_open_folders, args=(engine,), name="infill-poll", daemon=True).start()


def _poll_open_folders(engine) -> None:
    # The first look at a folder is the baseline; later looks report new, changed and deleted files.
    seen: dict[Path, dict[Path, float]] = {}
    while not engine._stopped.wait(POLL_SECONDS):
        folders = {Path(root) / Path(key).parent for root in engine.folders for key in engine.open_buffer_keys()}
        for folder in folders:
            current = _mtimes(folder)
            previous = seen.get(folder)
            seen[folder] = current
            if previous is None:
                continue
            for path in current.keys() | previous.keys():
                if current.get(path) != previous.get(path):
                    engine.notify_changed(path)


def _mtimes(folder: Path) -> dict[Path, float]:
    found = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return found
    for path in entries:
        try:
            if path.is_file():
                found[path] = path.stat().st_mtime
        except OSError:
            continue
    return found
