"""The language server's edge: LSP handlers and the conversions between LSP types and values.

Handlers are async and only do bookkeeping on the event loop. A completion request becomes a
:class:`Spot` (document, version, cursor, the text split there) and goes to the
:class:`CompletionService`, which owns the keystroke path; document events go to its per-document
state and to the repository index. Only this module knows about LSP types.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from infill_lsp import __version__
from infill_lsp.acceptance import AcceptanceStats, default_stats_file
from infill_lsp.completion_service import CompletionService
from infill_lsp.conversions import (
    acceptance_params,
    cursor_after,
    cursor_at,
    item_shape_of,
    path_of,
    popup_list,
    position_params,
    refusal,
    spot_at,
    suggestion,
)
from infill_lsp.engine.models import ModelOptions
from infill_lsp.extensions import ACCEPTED, EXPLAIN, PARTIAL_COMPLETION, STATUS, WARM, client_wants_partials
from infill_lsp.inference import InferenceQueue
from infill_lsp.keystroke import Answer, Spot
from infill_lsp.parent import watch_parent
from infill_lsp.popup import ItemShape, Offer, offer_for
from infill_lsp.protocol import InfillProtocol, plain
from infill_lsp.providers import POPUP_TRIGGER_CHARACTERS, Dynamic, change_offer, dynamic_support, register_offered
from infill_lsp.settings import resolve_settings
from infill_lsp.status import engine_problem, explain_spot, status
from infill_lsp.workspace_context import (
    WorkspaceContext,
    ask_editor_to_watch,
    editor_can_watch,
    rules_from,
    workspace_roots,
)

logger = logging.getLogger(__name__)

WARM_AT_REST_SECONDS = 0.05
"""After ``infill/warm``: the client already waited for the cursor to rest."""
SPOT_SHAPE = "{textDocument: {uri}, position: {line, character}}"


class InfillServer(LanguageServer):
    """Serves inline completions; the model runs on the :class:`InferenceQueue`'s thread."""

    def __init__(self, model: ModelOptions, acceptance: AcceptanceStats) -> None:
        super().__init__("infill", __version__, protocol_cls=InfillProtocol)
        self.model_options = model
        self.workspace_context = WorkspaceContext()
        self.service = CompletionService(InferenceQueue(), self.workspace_context,
                                         lambda partial: self.protocol.notify(PARTIAL_COMPLETION, partial.to_wire()),
                                         acceptance)
        self.roots: list[Path] = []
        self.editor_can_watch = False
        self.editor_watches = False
        """The editor reports file changes (``workspace/didChangeWatchedFiles``): no watch here."""
        self._told_user: set[str] = set()
        self.offer = Offer(inline=True, popup=False)
        """Inline completion, the popup item or both: decided at ``initialize``."""
        self.item_shape = ItemShape()
        """How the client shows and inserts the popup item: read at ``initialize``."""
        self.client_has_inline = False
        self.dynamic = Dynamic()
        """The providers the client lets the server register while it runs."""

    def tell_user_once(self, key: str, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """Show ``message`` in the editor the first time ``key`` comes up."""
        if key not in self._told_user:
            self._told_user.add(key)
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    async def apply_settings(self, data: object) -> None:
        """Merge wire settings into the current ones (bad values are reported once each); a change
        of the file rules rebuilds the index."""
        before = self.service.settings
        self.service.settings, errors = resolve_settings(data, before)
        for error in errors:
            logger.warning("setting ignored: %s", error)
            self.tell_user_once(f"setting:{error}", f"Infill: {error}", types.MessageType.Warning)
        if self.service.settings.engine != before.engine and self.service.queue.load_started:
            self.tell_user_once("engine-settings", "Infill: engine.* settings take effect when the language server "
                                "restarts.", types.MessageType.Info)
        rules_changed = rules_from(self.service.settings.context) != rules_from(before.context)
        if rules_changed and self.workspace_context.repository is not None:
            await self.restart_context()

    async def suggest(self, uri: str, position: types.Position) -> tuple[Answer, Spot | None]:
        """The suggestion at ``position`` (no text for none) and the spot it was made for (None
        when refused), for both ways of showing it."""
        service = self.service
        document = self.workspace.text_documents.get(uri)
        refused = refusal(document, position, service.settings.completion.enabled, self.workspace_context)
        if refused:
            logger.info("completion uri=%s skipped: %s", uri, refused)
            if document is not None:  # kept for infill/explain
                service.documents.state(uri, document.version).note((document.version, position.line,
                                                                     position.character), refused)
            return Answer(""), None
        spot = spot_at(document, position)
        answer = await service.complete(spot)
        if service.queue.completer is None:
            self.tell_user_once("model", service.queue.error or "Infill: no model is loaded.")
        elif problem := engine_problem(service):
            self.tell_user_once(f"engine:{problem}", f"Infill: {problem}")
        return answer, spot

    async def restart_context(self) -> None:
        """(Re)build the repository index with the current rules; open documents go into it."""
        await self.workspace_context.restart(self, self.roots, self.service.settings.context,
                                             editor_watches=self.editor_watches)
        for document in list(self.workspace.text_documents.values()):
            self.workspace_context.note_document(path_of(document.uri), document.source, edited=False)


def model_name(options: ModelOptions) -> str:
    """The model's name in acceptance counts: its file name, or the inference server's address."""
    if options.path:
        return Path(str(options.path)).name
    return options.remote.url if options.remote else ""


def create_server(model: ModelOptions, *, stats_file: Path | None = None) -> InfillServer:
    """Build the server and register its handlers; acceptance counts are kept in ``stats_file``
    (default: ``acceptance.default_stats_file()``)."""
    server = InfillServer(model, AcceptanceStats(stats_file or default_stats_file()))
    service, workspace_context = server.service, server.workspace_context

    @server.feature(types.INITIALIZE)
    async def initialize(ls: InfillServer, params: types.InitializeParams) -> None:
        service.client_streams = client_wants_partials(params.capabilities.experimental)
        await ls.apply_settings(params.initialization_options)
        ls.roots = workspace_roots(params)
        text_capabilities = params.capabilities.text_document
        ls.client_has_inline = text_capabilities is not None and text_capabilities.inline_completion is not None
        ls.offer = offer_for(service.settings.completion.style, ls.client_has_inline)
        ls.dynamic = dynamic_support(params.capabilities)
        ls.item_shape = item_shape_of(params.capabilities)
        ls.editor_can_watch = editor_can_watch(params.capabilities)
        if params.process_id:
            watch_parent(params.process_id)
        engine = service.settings.engine
        ls.model_options = ls.model_options.with_engine_settings(engine.url, engine.api, engine.slot, engine.ca_bundle)
        service.model_name = model_name(ls.model_options)
        service.queue.start_loading(ls.model_options, workspace_context)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: InfillServer, _params: types.InitializedParams) -> None:
        await register_offered(ls, ls.offer, ls.dynamic)
        if ls.editor_can_watch and ls.roots:
            ls.editor_watches = await ask_editor_to_watch(ls)
        await ls.restart_context()
        await service.queue.wait_loaded()
        if service.queue.error:
            ls.tell_user_once("model", service.queue.error)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: InfillServer, params: types.DidChangeConfigurationParams) -> None:
        if params.settings:
            style = ls.service.settings.completion.style
            await ls.apply_settings(params.settings)
            if ls.service.settings.completion.style != style:
                wanted = offer_for(ls.service.settings.completion.style, ls.client_has_inline)
                ls.offer = change_offer(ls, ls.offer, wanted, ls.dynamic)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(_ls: InfillServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            workspace_context.file_changed(path_of(change.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(_ls: InfillServer, params: types.DidOpenTextDocumentParams) -> None:
        document = params.text_document
        service.documents.open(document.uri, document.version)
        workspace_context.note_document(path_of(document.uri), document.text, edited=False)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: InfillServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        document = ls.workspace.text_documents.get(uri)
        if document is None:
            return
        service.documents.change(uri, document.version)
        workspace_context.note_document(path_of(uri), document.source, edited=True)
        cursor = cursor_after(document, params.content_changes)
        if cursor is not None:
            service.warm_after_edit(uri, document.version, cursor_at(document, cursor))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(_ls: InfillServer, params: types.DidCloseTextDocumentParams) -> None:
        service.closed(params.text_document.uri)
        workspace_context.close_document(path_of(params.text_document.uri))

    @server.feature(types.SHUTDOWN)
    async def shutdown(_ls: InfillServer, _params: None) -> None:
        service.shutdown()
        workspace_context.stop()

    @server.feature(STATUS)
    async def server_status(ls: InfillServer, _params) -> dict:
        return status(service, ls.model_options.path, expecting_roots=bool(ls.roots))

    @server.feature(WARM)
    async def warm_at_rest(ls: InfillServer, params) -> None:
        found = position_params(plain(params))
        document = ls.workspace.text_documents.get(found[0]) if found else None
        if document is None or refusal(document, found[1], service.settings.completion.enabled, workspace_context):
            return
        service.warm_after_edit(document.uri, document.version, cursor_at(document,
                                                                          document.offset_at_position(found[1])),
                                idle_s=WARM_AT_REST_SECONDS)

    @server.feature(EXPLAIN)
    async def explain_at(ls: InfillServer, params) -> dict:
        found = position_params(plain(params))
        if found is None:
            raise JsonRpcInvalidParams(f"{EXPLAIN} needs {SPOT_SHAPE}")
        uri, position = found
        document = ls.workspace.text_documents.get(uri)
        refused = refusal(document, position, service.settings.completion.enabled, workspace_context)
        return explain_spot(service, uri, refused, document.version if document else None, position.line,
                            position.character)

    @server.command(ACCEPTED)
    async def accepted(_ls: InfillServer, *arguments) -> None:
        found = acceptance_params(plain(list(arguments)))  # pygls spreads the command's arguments
        if found is None:
            raise JsonRpcInvalidParams(f"{ACCEPTED} needs [{{id, chars, part?}}]")
        suggestion_id, chars, part = found
        service.acceptance.accepted(suggestion_id, chars, part=part)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: InfillServer, params: types.InlineCompletionParams):
        answer, _spot = await ls.suggest(params.text_document.uri, params.position)
        return suggestion(answer, params.position)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=POPUP_TRIGGER_CHARACTERS))
    async def popup_completion(ls: InfillServer, params: types.CompletionParams):
        invoked = params.context is None or params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        if not ls.offer.popup or (ls.offer.popup_on_request_only and not invoked):
            return types.CompletionList(is_incomplete=False, items=[])  # the ghost text shows it
        answer, spot = await ls.suggest(params.text_document.uri, params.position)
        document = ls.workspace.text_documents.get(params.text_document.uri)
        return popup_list(answer, spot, document, params.position, ls.item_shape)

    return server
