"""The JSON-RPC edge: pygls's LSP protocol, plus Infill's capabilities, LSP line numbering
(:mod:`infill_lsp.documents`) and an answer for every request.

pygls drops a message it cannot read into its types (a request without ``params``, a position
that is a string, an unknown field shape): it logs the error and the client waits forever for
a response. JSON-RPC says every request gets one, so such a request is answered here with
Invalid Params, and the server reads on.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

from infill_lsp.documents import LspWorkspace
from infill_lsp.extensions import server_experimental_capabilities

logger = logging.getLogger(__name__)


def plain(value: Any) -> Any:
    """Params of a custom method as plain JSON data (pygls hands them over as namedtuples)."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


class _Answered:
    """Stands for a request already answered with an error while it was being read."""

    jsonrpc = "answered"


_ANSWERED = _Answered()


class InfillProtocol(LanguageServerProtocol):
    """Adds Infill's extensions to the capabilities pygls computes; answers malformed requests."""

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        result = yield from super().lsp_initialize(params)
        sync = result.capabilities.text_document_sync
        sync_kind = sync.change if isinstance(sync, types.TextDocumentSyncOptions) else sync
        self._workspace = LspWorkspace.like(self._workspace, sync_kind)  # no document is open before initialize
        result.capabilities.experimental = server_experimental_capabilities()
        # Decided by the server's initialize handler, which ran above. A provider the client takes
        # dynamically is registered after `initialized` instead, so that it can be removed later.
        offer, dynamic = self._server.offer, self._server.dynamic
        if not offer.inline or dynamic.inline:
            result.capabilities.inline_completion_provider = None
        if not offer.popup or dynamic.popup:
            result.capabilities.completion_provider = None
        return result

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            request_id, method = data.get("id"), data.get("method")
            if not isinstance(method, str) or isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
                raise  # a notification or a response: nobody waits for an answer
            reason = error.__cause__ or error
            logger.warning("request id=%r method=%s has malformed params: %s", request_id, method,
                           str(reason).splitlines()[0] if str(reason) else type(reason).__name__)
            answer = JsonRpcInvalidParams(f"{method}: params do not match the method's schema")
            self._send_response(request_id, None, answer.to_response_error())
            return _ANSWERED

    def handle_message(self, message) -> None:
        if message is _ANSWERED:
            return
        super().handle_message(message)
