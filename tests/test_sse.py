"""Server-sent events as an inference server streams them, cut at any byte by the network."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lsp_server.engine.sse import SseParser

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
