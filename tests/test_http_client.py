"""The inference-server client's pure parts: server-sent events cut at any byte by the network,
and the rules for keys and certificates."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infill_lsp.engine.generation import EngineUnavailable
from infill_lsp.engine.http_client import Connection, HttpClient
from infill_lsp.engine.sse import SseParser

STREAM = (
    b': keep-alive comment\r\n\r\n'
    b'data: {"content": "def \xc3\xa9l\xc3\xa8ve():", "tokens": [1, 2]}\r\n\r\n'
    b'event: message\ndata: {"content": "\\n    return \xe2\x9c\x93"}\n\n'
    b'data: first line\rdata: second line\r\r'
    b'data:no space\n\n'
    b'data: [DONE]\n\n'
)
EVENTS = [
    '{"content": "def élève():", "tokens": [1, 2]}',
    '{"content": "\\n    return ✓"}',
    "first line\nsecond line",
    "no space",
    "[DONE]",
]


def parse(pieces: list[bytes]) -> list[str]:
    parser = SseParser()
    return [event for piece in pieces for event in parser.feed(piece)]


def test_whole_stream():
    assert parse([STREAM]) == EVENTS


def test_every_single_cut():
    for cut in range(len(STREAM) + 1):
        assert parse([STREAM[:cut], STREAM[cut:]]) == EVENTS, cut


def test_byte_by_byte():
    assert parse([STREAM[i:i + 1] for i in range(len(STREAM))]) == EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_cuts(cuts):
    points = [0, *sorted(cuts), len(STREAM)]
    assert parse([STREAM[a:b] for a, b in zip(points, points[1:])]) == EVENTS


def test_a_key_never_travels_in_clear_text_off_this_machine():
    with pytest.raises(ValueError, match="https"):
        HttpClient(Connection("http://10.20.30.40:8012", key="secret-key"))
    with pytest.raises(ValueError) as refused:
        HttpClient(Connection("http://llm.example.com", key="secret-key"))
    assert "secret-key" not in str(refused.value)
    HttpClient(Connection("https://llm.example.com", key="secret-key"))
    HttpClient(Connection("http://127.0.0.1:8012", key="secret-key"))  # loopback: a local proxy or test
    HttpClient(Connection("http://10.20.30.40:8012"))  # no key, nothing to leak


def test_tls_is_always_verified_and_a_ca_bundle_only_adds(tmp_path):
    context = Connection("https://llm.example.com").tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises((OSError, ssl.SSLError)):
        Connection("https://x", ca_bundle=str(tmp_path / "missing.pem")).tls_context()


def test_a_broken_event_ends_the_answer_with_a_clear_failure():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'data: {"content": "a"}\n\ndata: {"content": "b\n\n'
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = HttpClient(Connection(f"http://127.0.0.1:{server.server_address[1]}"))
        events = []
        with pytest.raises(EngineUnavailable, match="broken event"):
            for event in client.stream("/completion", {"prompt": [1]}, threading.Event()):
                events.append(event)
        assert events == [{"content": "a"}]
    finally:
        server.shutdown()
        server.server_close()
