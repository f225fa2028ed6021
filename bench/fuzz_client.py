"""A JSON-RPC client for robustness tests: raw bytes in, every frame out, with timeouts.

Unlike ``jsonrpc_pipe.PipeClient`` it never blocks forever: a reader thread collects every
frame the server writes (and records anything on stdout that is not a clean frame), so a test
can send malformed bytes and still ask "did every request get an answer?".
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any


class FuzzClient:
    def __init__(self, *args: str, server: list[str] | None = None) -> None:
        """``server``: the command that starts the server (default: this Python's ``infill_lsp``)."""
        self.process = subprocess.Popen([*(server or [sys.executable, "-m", "infill_lsp"]), *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.responses: dict[Any, dict] = {}
        self.arrived: dict[Any, float] = {}
        """``time.perf_counter()`` when each response was read."""
        self.stray: list[bytes] = []
        self._arrived = threading.Condition()
        self.notifications: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def send_bytes(self, body: bytes) -> None:
        """One frame with ``body`` as is (it may be invalid JSON or invalid UTF-8)."""
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def send_unframed(self, data: bytes) -> None:
        """Bytes as they are, headers included (a frame that lies about its length)."""
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_bytes(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def wait_for(self, request_ids: list[Any], timeout: float) -> list[Any]:
        """The ids among ``request_ids`` still unanswered after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                missing = [i for i in request_ids if i not in self.responses]
                left = deadline - time.monotonic()
                if not missing or left <= 0 or self.process.poll() is not None:
                    return missing
                self._arrived.wait(left)

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = stream.read(1)
                if not byte:
                    with self._arrived:
                        self._arrived.notify_all()
                    return
                header += byte
            if not header.startswith(b"Content-Length: "):
                self.stray.append(header)
                continue
            body = stream.read(int(header[len(b"Content-Length: "):].split(b"\r\n")[0]))
            try:
                message = json.loads(body)
            except ValueError:
                self.stray.append(body)
                continue
            if "id" in message and "method" not in message:
                with self._arrived:
                    self.arrived[message["id"]] = time.perf_counter()
                    self.responses[message["id"]] = message
                    self._arrived.notify_all()
            else:
                self.notifications.put(message)

    def close(self) -> None:
        try:
            self.send({"id": "bye", "method": "shutdown"})
            self.wait_for(["bye"], 20)
            self.send({"method": "exit"})
            self.process.wait(20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
