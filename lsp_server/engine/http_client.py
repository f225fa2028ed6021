"""A small HTTP/1.1 client for inference servers: one kept-alive connection, verified TLS, and
reads that a cancellation event stops within a few milliseconds.

The standard library's ``http.client`` blocks inside a read with no way to give up when the
user types on; a timeout there spoils the connection for good. Here every wait on the socket is
a short ``select``, between which the cancellation event and the read deadline are checked.
Cancelling closes the connection, which is how llama-server and vLLM learn to stop generating.
The bearer key goes into one header and nowhere else: never into a log or an error message.
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from infill_lsp.engine.generation import EngineUnavailable
from infill_lsp.engine.sse import SseParser

POLL_S = 0.01
"""Longest a read waits before it looks at the cancellation event again."""
MAX_HEADER_BYTES = 64 * 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestCancelled(Exception):
    """The caller's cancellation event was set while waiting for the server."""


@dataclass(frozen=True)
class Connection:
    """Where the inference server is and how to talk to it."""

    url: str
    key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    """Extra request headers (a proxy's), sent as given."""
    ca_bundle: str | None = None
    """A PEM file of extra trusted certificates, on top of the system store."""
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 30.0
    """Longest silence from the server while a request is in flight."""

    def tls_context(self) -> ssl.SSLContext:
        """Certificates and host names verified, always; a CA bundle adds trust, it replaces nothing."""
        context = ssl.create_default_context()
        if self.ca_bundle:
            context.load_verify_locations(cafile=self.ca_bundle)
        return context


class HttpClient:
    """JSON requests and SSE streams over one kept-alive connection. Not thread-safe: it
    belongs to the inference thread."""

    def __init__(self, connection: Connection) -> None:
        parts = urlsplit(connection.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"engine URL must be http:// or https:// with a host: {connection.url!r}")
        if connection.key and parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(f"refusing to send the API key (INFILL_ENGINE_KEY) in clear text to {parts.hostname}: "
                             "use an https:// engine URL")
        self.connection = connection
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._base = parts.path.rstrip("/")
        self._netloc = parts.netloc.rsplit("@", 1)[-1]
        self._socket: socket.socket | None = None
        self._buffer = b""

    @property
    def origin(self) -> str:
        """scheme://host:port, for messages (never with credentials)."""
        return f"{'https' if self._tls else 'http'}://{self._netloc}"

    def get_json(self, path: str, cancel: threading.Event | None = None) -> dict:
        """GET ``path`` and decode its JSON answer."""
        return self._json(self._exchange("GET", path, None, cancel))

    def post_json(self, path: str, body: dict, cancel: threading.Event | None = None) -> dict:
        """POST a JSON body to ``path`` and decode the JSON answer."""
        return self._json(self._exchange("POST", path, body, cancel))

    def stream(self, path: str, body: dict, cancel: threading.Event) -> Iterator[dict]:
        """POST ``body`` and yield each server-sent event's JSON until the stream ends. Leaving
        the loop early closes the connection: the server stops generating."""
        status, headers = self._send("POST", path, body, cancel, stream=True)
        finished = False
        try:
            if status != 200:
                raise EngineUnavailable(self._failure(status, self._body(headers, cancel), path))
            parser = SseParser()
            for chunk in self._body_chunks(headers, cancel):
                for data in parser.feed(chunk):
                    if data.strip() == "[DONE]":
                        continue
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise EngineUnavailable(f"{self.origin} sent a broken event: {data[:80]!r}") from None
                    yield event
            finished = True
        finally:
            if not finished:
                self.close()

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket, self._buffer = None, b""

    # -- one exchange -------------------------------------------------------------------------
    def _exchange(self, method: str, path: str, body: dict | None, cancel: threading.Event | None) -> tuple[int, bytes]:
        status, headers = self._send(method, path, body, cancel)
        try:
            data = self._body(headers, cancel)
        except BaseException:
            self.close()
            raise
        if status != 200:
            raise EngineUnavailable(self._failure(status, data, path))
        return status, data

    def _json(self, answer: tuple[int, bytes]) -> dict:
        try:
            return json.loads(answer[1])
        except ValueError as error:
            raise EngineUnavailable(f"{self.origin} answered with something that is not JSON ({error})") from None

    def _failure(self, status: int, data: bytes, path: str = "") -> str:
        detail = ""
        try:
            error = json.loads(data).get("error")
            detail = error.get("message", "") if isinstance(error, dict) else str(error or "")
        except (ValueError, AttributeError):
            detail = data[:200].decode("utf-8", "replace").strip()
        if status in (401, 403):
            return (f"{self.origin} refused the API key (HTTP {status}): set INFILL_ENGINE_KEY to a key "
                    "the server accepts")
        if status == 404:
            return (f"{self.origin}{self._base}{path} answered HTTP 404: the URL is not a llama-server or "
                    "OpenAI-compatible server (check --engine-url and --engine-api)")
        return f"{self.origin} answered HTTP {status}" + (f": {detail}" if detail else "")

    def _send(self, method: str, path: str, body: dict | None, cancel: threading.Event | None, *,
              stream: bool = False) -> tuple[int, dict[str, str]]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {self._base}{path} HTTP/1.1", f"Host: {self._netloc}", "Connection: keep-alive",
                f"Accept: {'text/event-stream' if stream else 'application/json'}",
                f"Content-Length: {len(payload)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if self.connection.key:
            head.append(f"Authorization: Bearer {self.connection.key}")
        head += [f"{name}: {value}" for name, value in self.connection.headers]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        # A kept-alive connection the server has since closed fails on first use: once more, fresh.
        for attempt in (0, 1):
            reused = self._socket is not None
            try:
                self._open(cancel)
                self._socket.sendall(request)
                return self._read_head(cancel)
            except RequestCancelled:
                self.close()
                raise
            except (OSError, _ClosedEarly) as error:
                self.close()
                if reused and attempt == 0 and isinstance(error, (_ClosedEarly, ConnectionError)):
                    continue
                raise EngineUnavailable(self._unreachable(error)) from None
        raise AssertionError("unreachable")

    def _unreachable(self, error: Exception) -> str:
        if isinstance(error, ssl.SSLCertVerificationError):
            return (f"{self.origin}: TLS certificate not trusted ({error.verify_message}); pass the server's CA "
                    "with --engine-ca or INFILL_ENGINE_CA")
        if isinstance(error, TimeoutError | socket.timeout):
            return f"{self.origin} did not answer in time"
        if isinstance(error, _ClosedEarly):
            return f"{self.origin} closed the connection without answering"
        return f"{self.origin} is unreachable ({error.strerror or error})" if isinstance(error, OSError) else str(error)

    def _open(self, cancel: threading.Event | None) -> None:
        if self._socket is not None:
            return
        raw = socket.create_connection((self._host, self._port), timeout=self.connection.connect_timeout_s)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                raw = self.connection.tls_context().wrap_socket(raw, server_hostname=self._host)
            raw.settimeout(self.connection.read_timeout_s)  # sends; reads wait in select first
        except BaseException:
            raw.close()
            raise
        self._socket, self._buffer = raw, b""

    def _read_head(self, cancel: threading.Event | None) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise OSError("response headers too large")
            if not self._fill(cancel, first=not self._buffer):
                raise _ClosedEarly()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            raise OSError(f"not an HTTP response: {lines[0][:80]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def _body(self, headers: dict[str, str], cancel: threading.Event | None) -> bytes:
        return b"".join(self._body_chunks(headers, cancel))

    def _body_chunks(self, headers: dict[str, str], cancel: threading.Event | None) -> Iterator[bytes]:
        """The body as it arrives: chunked, by length, or until the server closes."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = self._read_line(cancel)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._read_line(cancel):  # trailers, then the blank line
                        pass
                    break
                yield self._read_exact(size, cancel)
                self._read_line(cancel)
        elif "content-length" in headers:
            yield self._read_exact(int(headers["content-length"]), cancel)
        else:
            while self._fill(cancel):
                yield self._buffer
                self._buffer = b""
            yield self._buffer
            self._buffer = b""
            self.close()
            return
        if headers.get("connection", "").lower() == "close":
            self.close()

    def _read_line(self, cancel: threading.Event | None) -> bytes:
        while b"\r\n" not in self._buffer:
            if not self._fill(cancel):
                raise EngineUnavailable(f"{self.origin} closed the connection in the middle of an answer")
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _read_exact(self, size: int, cancel: threading.Event | None) -> bytes:
        while len(self._buffer) < size:
            if not self._fill(cancel):
                raise EngineUnavailable(f"{self.origin} closed the connection in the middle of an answer")
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _fill(self, cancel: threading.Event | None, *, first: bool = False) -> bool:
        """Read what the socket has into the buffer; False at the end of the stream."""
        sock = self._socket
        if sock is None:
            return False
        deadline = time.monotonic() + self.connection.read_timeout_s
        while True:
            if cancel is not None and cancel.is_set():
                raise RequestCancelled()
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if pending or select.select([sock], [], [], POLL_S)[0]:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    if first:
                        raise _ClosedEarly() from None
                    raise
                self._buffer += data
                return bool(data)
            if time.monotonic() > deadline:
                raise TimeoutError("read timed out")


class _ClosedEarly(Exception):
    """The server closed a connection before answering anything (a stale kept-alive one)."""
