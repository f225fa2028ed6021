"""Repository context for the language server: which folders, which rules, indexing progress.

Bridges :class:`context.Repository` (threads, plain paths) and the protocol (work-done
progress, messages, URIs). :class:`WorkspaceContext` holds the server's current repository
(rebuilt when the file rules change) and is the completer's retriever.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from infill_lsp.context import CursorSnapshot, FileRules, Repository, Snippet, is_secret
from infill_lsp.settings import ContextSettings

logger = logging.getLogger(__name__)

_runs = itertools.count(1)


def rules_from(settings: ContextSettings) -> FileRules:
    """File rules from the ``context.*`` settings."""
    return FileRules(max_file_bytes=settings.max_file_kb * 1024, include=settings.include, exclude=settings.exclude)


def workspace_roots(params: types.InitializeParams) -> list[Path]:
    """The folders to index: the workspace folders, else the root URI."""
    uris = [folder.uri for folder in params.workspace_folders or []] or ([params.root_uri] if params.root_uri else [])
    roots = []
    for uri in uris:
        path = to_fs_path(uri)
        if path and Path(path).is_dir():
            roots.append(Path(path))
    return roots


def editor_can_watch(capabilities: types.ClientCapabilities) -> bool:
    """Whether the client lets the server register file watchers (VS Code does; Neovim on macOS and
    Windows): then the editor's own watcher serves us and the server places no watch."""
    watched = capabilities.workspace.did_change_watched_files if capabilities.workspace else None
    return bool(watched and watched.dynamic_registration)


async def ask_editor_to_watch(server) -> bool:
    """Register ``workspace/didChangeWatchedFiles`` for every file; False if the editor refused."""
    registration = types.Registration(
        id="infill/watched-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/*")]))
    try:
        await asyncio.wait_for(server.client_register_capability_async(
            types.RegistrationParams(registrations=[registration])), 10)
    except Exception as exc:  # refused or unanswered: the server watches by itself
        logger.info("the editor does not watch files for us (%s); watching them here", exc)
        return False
    logger.info("the editor watches the workspace's files; no watch placed here")
    return True


async def start_indexing(server, roots: list[Path], settings: ContextSettings, *,
                         editor_watches: bool = False) -> Repository:
    """Create the repository of ``roots`` and index it in the background, reporting progress."""
    repository = Repository(rules_from(settings))
    for root in roots:
        repository.add_folder(root)
    loop = asyncio.get_running_loop()
    token = f"infill/indexing/{next(_runs)}"  # a token may be created only once per session
    progress = server.work_done_progress
    capabilities = server.client_capabilities.window
    reporting = bool(capabilities and capabilities.work_done_progress) and bool(roots)
    if reporting:
        try:
            await asyncio.wait_for(asyncio.wrap_future(progress.create(token)), 5)
            progress.begin(token, types.WorkDoneProgressBegin(title="Infill: indexing", percentage=0))
        except Exception as exc:  # a client that refuses progress still gets completions
            logger.info("no indexing progress shown: %s", exc)
            reporting = False

    def report(done: int, total: int) -> None:
        if not reporting:
            return
        if done >= total:
            progress.end(token, types.WorkDoneProgressEnd(message=f"{total} files indexed"))
        else:
            percent = int(100 * done / max(total, 1))
            progress.report(token, types.WorkDoneProgressReport(message=f"{done}/{total} files", percentage=percent))

    def warn(message: str) -> None:
        loop.call_soon_threadsafe(server.tell_user_once, "watch", message, types.MessageType.Warning)

    repository.start(on_progress=lambda done, total: loop.call_soon_threadsafe(report, done, total), on_warning=warn,
                 watch=not editor_watches)
    return repository


class WorkspaceContext:
    """The current repository index of the workspace folders, and what requests ask of it."""

    def __init__(self) -> None:
        self.repository: Repository | None = None

    async def restart(self, server, roots: list[Path], settings: ContextSettings, *, editor_watches: bool) -> None:
        """(Re)build the index of ``roots`` with the current rules."""
        if self.repository is not None:
            self.repository.stop()
        self.repository = await start_indexing(server, roots, settings, editor_watches=editor_watches)

    def gather(self, cursor: CursorSnapshot, window: tuple[int, int]) -> list[Snippet]:
        """The completer's retriever (on the inference thread; the repository may be replaced meanwhile)."""
        repository = self.repository
        return repository.gather(cursor, window) if repository is not None else []

    def locate(self, path: Path) -> tuple[str, str]:
        """``(workspace-relative path, workspace folder name)``; the file name and '' outside."""
        located = self.repository.locate(path) if self.repository is not None else None
        return (located[1], located[0].root.name) if located else (path.name, "")

    def privacy(self, path: Path) -> str:
        """``secret_file`` or ``ignored_file`` when the file's text must never reach a prompt, else ''."""
        if is_secret(path.name):
            return "secret_file"
        if self.repository is not None and self.repository.is_private(path):
            return "ignored_file"
        return ""

    def note_document(self, path: Path, text: str, *, edited: bool) -> None:
        """An open document's current text (unsaved text wins over the disk)."""
        if self.repository is not None:
            self.repository.set_buffer(path, text, edited=edited)

    def close_document(self, path: Path) -> None:
        if self.repository is not None:
            self.repository.close_buffer(path)

    def file_changed(self, path: Path) -> None:
        """The editor reports a change on disk."""
        if self.repository is not None:
            self.repository.notify_changed(path)

    def stop(self) -> None:
        if self.repository is not None:
            self.repository.stop()

    def status(self, expecting_roots: bool) -> dict:
        """The ``infill/status`` fields on the index (see ``lsp_server/extensions.py``)."""
        repository = self.repository
        indexing = not repository.indexing_done.is_set() if repository is not None else expecting_roots
        return {"indexedFiles": len(repository.index) if repository is not None else 0, "indexing": indexing,
                **_upkeep_status(repository)}


def _upkeep_status(repository: Repository | None) -> dict:
    """The ``infill/status`` fields on keeping the index fresh (see ``lsp_server/extensions.py``)."""
    upkeep = repository.upkeep if repository is not None else None
    if upkeep is None:
        return {"watches": 0, "pendingChanges": 0, "rescans": 0, "indexFingerprint": None}
    stats = upkeep.stats
    return {"watches": stats.watches, "pendingChanges": stats.pending, "rescans": stats.rescans,
            "indexFingerprint": repository.index.fingerprint()}
