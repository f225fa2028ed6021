"""An LSP client session with the real server process, and the helpers its tests and benchmarks share.

The server is started as editors start it (``python -m infill_lsp`` on stdio) through
pytest-lsp's client; partial-completion notifications and capability registrations are kept on
the client for the caller to inspect.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig

from infill_lsp.extensions import PARTIAL_COMPLETION

URI = "file:///work/fib.py"


@contextlib.asynccontextmanager
async def session(model: Path | str, *, options: dict | None = None, experimental: dict | None = None,
                  args: tuple[str, ...] = (), root: Path | None = None,
                  workspace: types.WorkspaceClientCapabilities | None = None, env: dict[str, str] | None = None,
                  gated: bool = False):
    """Start the server, initialize it, collect its notifications and registrations, shut it down.
    ``env``: variables added to this process's environment for the server. Unless ``gated``, every
    suggestion is shown (``completion.confidence`` off, when ``options`` do not set it): a test
    of what the server does with a suggestion must not depend on which ones the gate lets through."""
    if not gated and "confidence" not in ((options or {}).get("completion") or {}):
        completion = (options or {}).get("completion")
        options = {**(options or {}), "completion": {**(completion if isinstance(completion, dict) else {}),
                                                     "confidence": "off"}}
    command = [sys.executable, "-m", "infill_lsp", "--model", str(model), "--threads", "2", *args]
    client = await ClientServerConfig(server_command=command, server_env={**os.environ, **(env or {})}).start()
    client.partials = []
    client.feature(PARTIAL_COMPLETION)(lambda params: client.partials.append(params))
    client.registrations = []
    client.feature(types.CLIENT_REGISTER_CAPABILITY)(lambda params: client.registrations.extend(params.registrations))
    capabilities = types.ClientCapabilities(
        experimental=experimental, window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=workspace,
        text_document=types.TextDocumentClientCapabilities(inline_completion=types.InlineCompletionClientCapabilities()))
    folders = [types.WorkspaceFolder(uri=root.as_uri(), name=root.name)] if root else None
    result = await client.initialize_session(types.InitializeParams(
        capabilities=capabilities, initialization_options=options, workspace_folders=folders,
        root_uri=root.as_uri() if root else None,
    ))
    client.init_result = result
    try:
        yield client
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 20)
        finally:
            if client._server and client._server.returncode is None:
                client._server.kill()
            await asyncio.wait_for(client.stop(), 20)


async def eventually(predicate, timeout: float = 30.0) -> None:
    """Wait until ``predicate()`` holds (notifications may arrive before or after a request)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def open_document(client, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def inline_request(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )


async def complete(client, uri: str, line: int, character: int) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(inline_request(uri, line, character))
    return list(result.items) if isinstance(result, types.InlineCompletionList) else list(result or [])


def change(client, uri: str, version: int, line: int, character: int, text: str) -> None:
    """The user typed ``text`` at ``line:character``."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, character), types.Position(line, character)), text=text)],
    ))


def log_lines(log: Path, marker: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if marker in line] if log.exists() else []


async def indexed(client) -> None:
    await eventually(lambda: any(isinstance(report, types.WorkDoneProgressEnd)
                                 for reports in client.progress_reports.values() for report in reports))


def plain(value):
    """pygls answers a custom request with namedtuples (nested too): the plain JSON values."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


async def ask(client, method: str, params: dict) -> dict:
    """A request of Infill's extensions (``infill/status``, ``infill/explain``), answered as plain JSON."""
    return plain(await client.protocol.send_request_async(method, params))
