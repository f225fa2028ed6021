"""The language server: the protocol edge and composition root.

Handlers are async and only do bookkeeping on the event loop: they take an immutable snapshot
of the document (text, version, cursor offset) and hand it to the inference thread. Only this
module knows about LSP types.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import threading
import time
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from context import ContextEngine, is_secret
from lsp_server import __version__
from lsp_server.background import BackgroundWork
from lsp_server.engine.completer import CompletionRequest, CompletionResult
from lsp_server.engine.models import InferenceWorker, ModelOptions
from lsp_server.explain import Outcome, explain
from lsp_server.fim.postprocess import Shaped
from lsp_server.protocol import (
    EXPLAIN,
    PARTIAL_COMPLETION,
    STATUS,
    WARM,
    PartialCompletion,
    client_wants_partials,
)
from lsp_server.rpc import InfillProtocol, plain
from lsp_server.scheduler import LatestWins
from lsp_server.settings import Settings, resolve_settings
from lsp_server.type_through import TypeThrough
from lsp_server.workspace_context import (
    ask_editor_to_watch,
    editor_can_watch,
    index_upkeep_status,
    rules_from,
    start_indexing,
    workspace_roots,
)

logger = logging.getLogger(__name__)

PARENT_POLL_SECONDS = 3.0
WARM_AT_REST_SECONDS = 0.05
"""After ``infill/warm``: the client already waited for the cursor to rest."""
SPECULATION_IDLE_SECONDS = 0.15
"""Quiet time after a suggestion before the next one is computed ahead (typing goes first)."""


class InfillServer(LanguageServer):
    """Serves inline completions from the model owned by an :class:`InferenceWorker`."""

    def __init__(self, model: ModelOptions) -> None:
        super().__init__("infill", __version__, protocol_cls=InfillProtocol)
        self.model_options = model
        self.worker = InferenceWorker()
        self.requests = LatestWins()
        self.shown = TypeThrough()
        self.background = BackgroundWork(self.worker, self.requests)
        self.settings = Settings()
        self.client_streams = False
        self.roots: list[Path] = []
        self.editor_can_watch = False
        self.editor_watches = False
        """The editor reports file changes (``workspace/didChangeWatchedFiles``): no watch here."""
        self.context: ContextEngine | None = None
        self._sequence = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._told_user: set[str] = set()
        self.outcomes: dict[str, Outcome] = {}
        """How the last completion request of each open document ended (for ``infill/explain``)."""

    @property
    def streams_partials(self) -> bool:
        """Whether partial suggestions are sent to this client."""
        return self.client_streams or self.settings.streaming

    def tell_user_once(self, key: str, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """Show ``message`` in the editor the first time ``key`` comes up."""
        if key in self._told_user:
            return
        self._told_user.add(key)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def apply_settings(self, data: object) -> bool:
        """Merge wire settings into the current ones; report bad values once each.

        Returns whether the file rules of the repository index changed.
        """
        before = rules_from(self.settings.context)
        self.settings, errors = resolve_settings(data, self.settings)
        for error in errors:
            logger.warning("setting ignored: %s", error)
            self.tell_user_once(f"setting:{error}", f"Infill: {error}", types.MessageType.Warning)
        return rules_from(self.settings.context) != before

    async def restart_context(self) -> None:
        """(Re)build the repository index with the current rules."""
        if self.context is not None:
            self.context.stop()
        self.context = await start_indexing(self, self.roots, self.settings.context,
                                            editor_watches=self.editor_watches)
        for document in list(self.workspace.text_documents.values()):
            self.note_document(document.uri, document.source, edited=False)

    def note_document(self, uri: str, text: str, *, edited: bool) -> None:
        """Tell the repository index about an open document's current text."""
        path = to_fs_path(uri)
        if self.context is not None and path:
            self.context.set_buffer(Path(path), text, edited=edited)

    async def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        """Answer one ``textDocument/inlineCompletion`` request."""
        request_id = next(self._request_ids)
        uri, position = params.text_document.uri, params.position
        self.background.cancel_pending(uri)
        started = time.perf_counter()
        empty = types.InlineCompletionList(items=[])
        document = self.workspace.text_documents.get(uri)
        reason = _why_not(self, document, position)
        if reason:
            logger.info("completion id=%d uri=%s skipped: %s", request_id, uri, reason)
            if document is not None:
                self._note(uri, document.version, position, reason)
            return empty
        version, text = document.version, document.source
        offset = document.offset_at_position(position)
        prefix, suffix = text[:offset], text[offset:]
        known = self.shown.lookup(uri, prefix, suffix)
        if known is not None:
            rest, speculative = known
            how = "speculative" if speculative else "type_through"
            logger.info("completion id=%d uri=%s version=%s %s chars=%d", request_id, uri, version, how, len(rest))
            self._note(uri, version, position, "shown", len(rest))
            self._follow_up(uri, prefix + rest, suffix)
            return _suggestion(rest, position)
        request = dataclasses.replace(self._request(uri, prefix, suffix), label=str(request_id))
        await self.worker.wait_loaded()
        if self.worker.backend is None:
            self.tell_user_once("model", self.worker.error or "Infill: no model is loaded.")
            logger.info("completion id=%d skipped: no_model", request_id)
            self._note(uri, version, position, "no_model_at_request")
            return empty
        result = await self._run(request, uri, version, position)
        _log_result(request_id, uri, version, result, started)
        self._note(uri, version, position, "shown" if result.text else result.reason, len(result.text))
        if result.text:
            self.shown.remember(uri, prefix, suffix, result.text, shortened=result.shortened)
        if result.shortened:
            self._grow(uri, request)
        elif result.stats is not None and result.reason != "cancelled":
            self.background.stop_growing(uri)  # this prompt was whole: nothing left to grow
        if result.reason not in ("cancelled", "content_modified"):  # else a newer request follows up
            self._follow_up(uri, prefix + result.text, suffix, speculate=bool(result.text))
        return _suggestion(result.text, position) if result.text else empty

    def privacy(self, uri: str) -> str:
        """``secret_file`` or ``ignored_file`` when the document's text must never reach a prompt, else ''."""
        path = Path(to_fs_path(uri) or uri)
        if is_secret(path.name):
            return "secret_file"
        if self.context is not None and self.context.is_private(path):
            return "ignored_file"
        return ""

    def _note(self, uri: str, version: int | None, position: types.Position, reason: str, chars: int = 0) -> None:
        self.outcomes[uri] = Outcome(version, position.line, position.character, reason, chars)

    def explain(self, params: dict) -> dict:
        """The ``infill/explain`` answer: why a suggestion did or did not appear at a position."""
        spot = _spot(params)
        if spot is None:
            raise JsonRpcInvalidParams(f"{EXPLAIN} needs {SPOT_SHAPE}")
        uri, line, character = spot
        document = self.workspace.text_documents.get(uri)
        gate = _why_not(self, document, types.Position(line, character)) if line >= 0 and character >= 0 else "bad_position"
        loaded = self.worker.backend is not None
        return explain(gate, loaded, self.worker.error, self.outcomes.get(uri),
                       document.version if document else None, line, character)

    def _follow_up(self, uri: str, prefix: str, suffix: str, *, speculate: bool = True) -> None:
        """Once the user pauses, compute the suggestion for the text after an acceptance.

        Not while the document's full prompt grows: that suggestion would come from a shortened
        prompt, be dropped once the context is in, and take the gaps the growth needs."""
        if not (speculate and self.settings.completion.speculate and self.shown.lookup(uri, prefix, suffix) is None):
            return

        async def follow_up() -> None:
            if self.background.growing(uri):
                return
            request = dataclasses.replace(self._request(uri, prefix, suffix), after_accept=True, label="speculation")
            backend = self.worker.backend
            result = await self.background.run(lambda cancel: backend.complete(request, cancel, lambda _shaped: None))
            if result is None:
                return
            if result.text:
                self.shown.remember(uri, prefix, suffix, result.text, speculative=True, shortened=result.shortened)
            stats = result.stats.summary() if result.stats else f"skipped: {result.reason}"
            logger.info("speculation uri=%s chars=%d %s", uri, len(result.text), stats)

        self.background.after_idle(uri, SPECULATION_IDLE_SECONDS, follow_up)

    def _grow(self, uri: str, request: CompletionRequest) -> None:
        """The prompt of ``request`` was shortened: its full prompt grows between the keystrokes
        that follow, and once it is whole the next keystroke gets all of its context."""
        backend = self.worker.backend
        started = time.perf_counter()

        def grown(stats) -> None:
            logger.info("grown uri=%s ms=%.0f stop=%s", uri, (time.perf_counter() - started) * 1000, stats.stop_reason)
            if stats.stop_reason == "warmed":
                self.shown.forget_shortened(uri)

        self.background.grow(uri, lambda cancel, beside: backend.warm(request, cancel, beside=beside), grown)

    async def _warm(self, what: str, uri: str, version: int | None, request: CompletionRequest) -> None:
        """Evaluate the full prompt of ``request`` in the background (``what`` names the job in the log)."""
        backend = self.worker.backend
        stats = await self.background.run(lambda cancel: backend.warm(request, cancel))
        if stats is not None:
            logger.info("%s uri=%s version=%s %s", what, uri, version, stats.summary())
            if stats.stop_reason == "warmed":
                self.shown.forget_shortened(uri)

    def warm_after_edit(self, uri: str, version: int | None, cursor: int, *, idle_s: float | None = None) -> None:
        """Once the user pauses without asking for a suggestion (``idle_s``, default
        ``completion.warmIdleMs``), evaluate the prompt at ``cursor``."""
        idle_ms = self.settings.completion.warm_idle_ms
        if not idle_ms or not self.settings.completion.enabled or self.privacy(uri):
            return  # a private file never becomes a prompt, not even one that is only evaluated

        async def warm() -> None:
            await self.worker.wait_loaded()
            document = self.workspace.text_documents.get(uri)
            if document is None or document.version != version or self.worker.backend is None:
                return
            text = document.source
            await self._warm("warm", uri, version, self._request(uri, text[:cursor], text[cursor:]))

        self.background.after_idle(uri, idle_ms / 1000 if idle_s is None else idle_s, warm)

    async def status(self) -> dict:
        """The ``infill/status`` answer (see ``lsp_server/protocol.py``)."""
        engine, settings = self.worker.engine, self.settings.completion
        # Not through the inference thread: a status must not wait behind a generation. The mode
        # only reads the vocabulary, which is fixed once the model is loaded.
        mode = engine.mode(settings.fim, settings.fim_order) if self.worker.backend is not None else None
        context = self.context
        return {
            "version": __version__, "model": self.model_options.path, "loaded": self.worker.backend is not None,
            "error": self.worker.error, "mode": mode.name if mode else None, "modeReason": mode.reason if mode else None,
            "enabled": settings.enabled, "indexedFiles": len(context.index) if context is not None else 0,
            "indexing": not context.indexing_done.is_set() if context is not None else bool(self.roots),
            **index_upkeep_status(context),
        }

    def _request(self, uri: str, prefix: str, suffix: str) -> CompletionRequest:
        path = Path(to_fs_path(uri) or uri)
        engine = self.context
        located = engine.locate(path) if engine is not None else None
        relative = located[1] if located else path.name
        repo = located[0].root.name if located else ""

        def context(window, budget, cost):
            return engine.gather(path, prefix, suffix, window, budget, cost)

        return CompletionRequest(
            prefix, suffix, self.settings.completion, path=relative, repo=repo,
            context=context if engine is not None else None, context_tokens=self.settings.context.max_tokens,
        )

    async def _run(self, request: CompletionRequest, uri: str, version: int | None, position: types.Position):
        loop = asyncio.get_running_loop()
        cancel = self.requests.begin(uri)
        self.background.preempt()
        sent = [""]

        def publish(shaped: Shaped, done: bool = False) -> None:
            text = shaped.text[: shaped.settled] if not done else shaped.text
            if not self.streams_partials or (text == sent[0] and not done) or cancel.is_set() and not done:
                return
            sent[0] = text
            partial = PartialCompletion(uri, version, position.line, position.character, text, next(self._sequence), done)
            self.protocol.notify(PARTIAL_COMPLETION, partial.to_wire())

        def on_update(shaped: Shaped) -> None:
            loop.call_soon_threadsafe(publish, shaped)

        try:
            result = await self.worker.call(self.worker.backend.complete, request, cancel, on_update)
        except asyncio.CancelledError:
            logger.info("completion uri=%s cancelled by the client", uri)
            raise
        except Exception:
            # One bad request must not take the feature down: log it fully, answer empty.
            logger.exception("completion uri=%s failed in the engine", uri)
            return CompletionResult("", "", reason="engine_error")
        finally:
            self.requests.end(uri, cancel)
        current = self.workspace.text_documents.get(uri)
        if result.text and (current is None or current.version != version):
            result = CompletionResult("", result.mode, result.stats, reason="content_modified")
        publish(Shaped(result.text, True, len(result.text)), done=True)  # streaming clients always get an end
        return result


def _suggestion(text: str, position: types.Position) -> types.InlineCompletionList:
    """One inline item inserted at the cursor."""
    end = types.Position(position.line, position.character)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=text, range=types.Range(position, end))])


def _cursor_after(document, changes) -> int | None:
    """Where the cursor most likely is after ``changes``: the end of the last inserted text.

    Offsets are in the document's code points. Full-text changes say nothing about the cursor.
    """
    if not changes or not isinstance(changes[-1], types.TextDocumentContentChangePartial):
        return None
    last = changes[-1]
    try:
        return min(len(document.source), document.offset_at_position(last.range.start) + len(last.text))
    except (IndexError, ValueError):
        return None


SPOT_SHAPE = "{textDocument: {uri}, position: {line, character}}"


def _spot(params) -> tuple[str, int, int] | None:
    """``(uri, line, character)`` from the params of ``infill/explain`` and ``infill/warm``."""
    try:
        return params["textDocument"]["uri"], int(params["position"]["line"]), int(params["position"]["character"])
    except (KeyError, TypeError, ValueError):
        return None


def _why_not(server: InfillServer, document, position: types.Position) -> str:
    """The named reason a request gets no suggestion before any model work, or ''."""
    if not server.settings.completion.enabled:
        return "disabled"
    if document is None:
        return "unknown_document"
    privacy = server.privacy(document.uri)
    if privacy:
        return privacy
    lines = document.lines
    if position.line < 0 or position.character < 0 or position.line > len(lines):
        return "bad_position"
    if position.line == len(lines):
        return "" if position.character == 0 else "bad_position"
    line = lines[position.line].rstrip("\r\n")
    if position.character > document.position_codec.client_num_units(line):
        return "bad_position"
    return ""


def _log_result(request_id: int, uri: str, version, result: CompletionResult, started: float) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    stats = result.stats.summary() if result.stats else ""
    outcome = f"chars={len(result.text)}" if result.text else f"empty: {result.reason}"
    if result.shortened:
        outcome += " shortened"
    logger.info("completion id=%d uri=%s version=%s mode=%s %s ms=%.0f %s",
                request_id, uri, version, result.mode, outcome, elapsed, stats)
    logger.debug("completion id=%d text=%r", request_id, result.text)


def watch_parent(pid: int) -> None:
    """Exit when the editor that started us is gone (a model must not outlive its editor)."""

    def poll() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                logger.warning("parent process %d is gone; exiting", pid)
                os._exit(0)
            except PermissionError:
                pass  # exists, owned by someone else

    threading.Thread(target=poll, name="infill-parent-watch", daemon=True).start()


def create_server(model: ModelOptions) -> InfillServer:
    """Build the server and register its handlers."""
    server = InfillServer(model)

    @server.feature(types.INITIALIZE)
    async def initialize(ls: InfillServer, params: types.InitializeParams) -> None:
        ls.client_streams = client_wants_partials(params.capabilities.experimental)
        ls.apply_settings(params.initialization_options)
        ls.roots = workspace_roots(params)
        ls.editor_can_watch = editor_can_watch(params.capabilities)
        if params.process_id:
            watch_parent(params.process_id)
        ls.worker.start_loading(ls.model_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: InfillServer, _params: types.InitializedParams) -> None:
        if ls.editor_can_watch and ls.roots:
            ls.editor_watches = await ask_editor_to_watch(ls)
        await ls.restart_context()
        await ls.worker.wait_loaded()
        if ls.worker.error:
            ls.tell_user_once("model", ls.worker.error)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: InfillServer, params: types.DidChangeConfigurationParams) -> None:
        if params.settings and ls.apply_settings(params.settings):
            await ls.restart_context()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(ls: InfillServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            path = to_fs_path(change.uri)
            if ls.context is not None and path:
                ls.context.notify_changed(Path(path))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: InfillServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.note_document(params.text_document.uri, params.text_document.text, edited=False)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: InfillServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.requests.cancel(uri)
        document = ls.workspace.text_documents.get(uri)
        if document is not None:
            ls.note_document(uri, document.source, edited=True)
            cursor = _cursor_after(document, params.content_changes)
            if cursor is not None:
                ls.warm_after_edit(uri, document.version, cursor)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: InfillServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.requests.cancel(params.text_document.uri)
        ls.background.cancel_pending(params.text_document.uri)
        ls.background.stop_growing(params.text_document.uri)
        ls.shown.forget(params.text_document.uri)
        ls.outcomes.pop(params.text_document.uri, None)
        path = to_fs_path(params.text_document.uri)
        if ls.context is not None and path:
            ls.context.close_buffer(Path(path))

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: InfillServer, _params: None) -> None:
        ls.requests.cancel_all()
        ls.background.stop()
        if ls.context is not None:
            ls.context.stop()
        ls.worker.shutdown()

    @server.feature(STATUS)
    async def status(ls: InfillServer, _params) -> dict:
        return await ls.status()

    @server.feature(WARM)
    async def warm_at_rest(ls: InfillServer, params) -> None:
        spot = _spot(plain(params))
        if spot is None:
            logger.info("%s ignored: needs %s", WARM, SPOT_SHAPE)
            return
        uri, line, character = spot
        document = ls.workspace.text_documents.get(uri)
        position = types.Position(line, character)
        if document is None or line < 0 or character < 0 or _why_not(ls, document, position):
            return
        ls.warm_after_edit(uri, document.version, document.offset_at_position(position), idle_s=WARM_AT_REST_SECONDS)

    @server.feature(EXPLAIN)
    async def explain_spot(ls: InfillServer, params) -> dict:
        params = plain(params)
        return ls.explain(params if isinstance(params, dict) else {})

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: InfillServer, params: types.InlineCompletionParams):
        return await ls.inline_completion(params)

    return server
