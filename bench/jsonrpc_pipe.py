"""A minimal JSON-RPC client over the server's real stdio pipes, byte for byte.

Used where a test must control exactly when each message is written (cancellation) or must
see every byte the server puts on stdout (stream hygiene).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any

INLINE_CLIENT = {"textDocument": {"inlineCompletion": {}}}
PROVIDERS = {"textDocument/completion", "textDocument/inlineCompletion"}


def provider_registration(message: dict) -> bool:
    """A request to register or unregister completion providers, which this client accepts (only
    clients that announce dynamic registration for them get one)."""
    params = message.get("params") or {}
    entries = params.get("registrations") or params.get("unregisterations") or []
    return ("id" in message and message.get("method") in ("client/registerCapability", "client/unregisterCapability")
            and bool(entries) and all(entry.get("method") in PROVIDERS for entry in entries))


def utf16_length(text: str) -> int:
    """``text``'s length in UTF-16 code units, as LSP counts characters by default."""
    return len(text.encode("utf-16-le")) // 2


def end_position(text: str) -> dict:
    """The LSP position (UTF-16 columns) at the end of ``text``."""
    return {"line": text.count("\n"), "character": utf16_length(text[text.rfind("\n") + 1:])}


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class PipeClient:
    """Starts ``python -m infill_lsp`` (or any command) and speaks LSP over its pipes."""

    def __init__(self, *args: str, command: list[str] | None = None, address_space: int | None = None) -> None:
        """``address_space`` caps the server's virtual memory in bytes, to make the machine small."""
        command = command or [sys.executable, "-m", "infill_lsp", *args]
        limit = None if address_space is None else (
            lambda: resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space)))
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, preexec_fn=limit)
        self.seen: list[dict] = []

    def send(self, message: dict) -> None:
        self.process.stdin.write(frame({"jsonrpc": "2.0", **message}))
        self.process.stdin.flush()

    def read(self) -> dict:
        """Read one framed message; fails loudly on anything that is not a clean frame."""
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            byte = self.process.stdout.read(1)
            assert byte, f"server closed stdout; header so far {header!r}"
            header += byte
        assert header.startswith(b"Content-Length: "), f"stray bytes on stdout: {header!r}"
        length = int(header[len(b"Content-Length: "):].split(b"\r\n")[0])
        message = json.loads(self.process.stdout.read(length))
        self.seen.append(message)
        if provider_registration(message):
            self.send({"id": message["id"], "result": None})  # as an editor that allows it answers
        return message

    def response(self, request_id: Any) -> dict:
        """Read until the response to ``request_id`` arrives."""
        while True:
            message = self.read()
            if message.get("id") == request_id and "method" not in message:
                return message

    def initialize(self, options: dict | None = None, capabilities: dict | None = None) -> dict:
        """``capabilities``: the client's (default: an editor that shows inline completions)."""
        capabilities = INLINE_CLIENT if capabilities is None else capabilities
        self.send({"id": "init", "method": "initialize",
                   "params": {"capabilities": capabilities, "processId": os.getpid(),
                              "initializationOptions": options}})
        result = self.response("init")
        self.send({"method": "initialized", "params": {}})
        return result

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.send({"method": "textDocument/didOpen",
                   "params": {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}})

    def inline(self, request_id: Any, uri: str, line: int, character: int) -> None:
        self.send({"id": request_id, "method": "textDocument/inlineCompletion",
                   "params": {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
                              "context": {"triggerKind": 2}}})

    def close(self) -> None:
        try:
            self.send({"id": "bye", "method": "shutdown"})
            self.response("bye")
            self.send({"method": "exit"})
            self.process.wait(20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
