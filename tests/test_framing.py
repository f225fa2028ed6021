"""A broken frame on stdin loses only itself: the server reads on at the next header, and a
stream with no header at all ends the server with a message, so that the editor restarts it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.jsonrpc_pipe import PipeClient
from bench.lying_headers import (
    BIG_URI,
    LYING_HEADERS,
    answered_within,
    legal_open,
    rss_kib,
    send_refused_with_bytes,
    status_request,
)
from infill_lsp.framing import MOST_FRAME_BYTES, MOST_LOST_BYTES


def test_a_frame_shorter_or_longer_than_its_length_loses_only_itself(fake_model, tmp_path):
    log = tmp_path / "server.log"
    client = PipeClient("--model", str(fake_model), "--threads", "1", "--log-file", str(log))
    try:
        client.initialize()
        body = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///work/a.py", "languageId": "python", "version": 1, "text": "x = 1\n"}}}).encode()
        client.process.stdin.write(b"Content-Length: %d\r\n\r\n" % (len(body) - 20) + body)  # 20 bytes too few
        client.process.stdin.write(status_request("after-short"))
        client.process.stdin.flush()
        started = time.monotonic()
        assert "result" in answered_within(client, "after-short", 1.0)
        assert time.monotonic() - started < 1.0
        # Too long: the body runs into the next frame's header, which is read on from there.
        client.process.stdin.write(b"Content-Length: %d\r\n\r\n" % (len(body) + 30) + body)
        client.process.stdin.write(status_request("run-into") + status_request("after-long"))
        client.process.stdin.flush()
        assert "result" in answered_within(client, "after-long", 1.0)
        assert [m for m in client.seen if m.get("id") == "run-into"]
    finally:
        if client.process.poll() is None:
            client.close()
    lost = [line for line in log.read_text(encoding="utf-8").splitlines() if "lost " in line and "broken frame" in line]
    assert len(lost) == 1 and "lost 20 bytes" in lost[0], lost


def test_a_stream_without_headers_ends_the_server_with_a_message(fake_model):
    server = subprocess.Popen([sys.executable, "-m", "infill_lsp", "--model", str(fake_model), "--threads", "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    junk = b"this is not LSP\n" * (MOST_LOST_BYTES // 16 + 2)
    _out, err = server.communicate(junk, timeout=60)
    assert server.returncode == 1
    assert b"no LSP header in the last" in err and b"restart the server" in err


def test_lying_headers_lose_only_their_frame_and_memory_stays_bounded(fake_model, tmp_path):
    """After each lying header the next request is answered within a second, the server never
    dies, and a length of a terabyte allocates nothing."""
    log = tmp_path / "server.log"
    client = PipeClient("--model", str(fake_model), "--threads", "1", "--log-file", str(log))
    try:
        client.initialize()
        before = rss_kib(client.process.pid)
        for number, (name, lie) in enumerate(LYING_HEADERS):
            client.process.stdin.write(lie + status_request(f"after-{number}"))
            client.process.stdin.flush()
            assert "result" in answered_within(client, f"after-{number}", 1.0), name
            assert client.process.poll() is None, name
            assert rss_kib(client.process.pid) - before < 200 * 1024, name
        # A refused length whose bytes do come: 256 MiB of them are dropped as they arrive.
        send_refused_with_bytes(client, 256)
        client.process.stdin.write(status_request("after-its-bytes"))
        client.process.stdin.flush()
        assert "result" in answered_within(client, "after-its-bytes", 1.0)
        assert rss_kib(client.process.pid) - before < 200 * 1024
    finally:
        if client.process.poll() is None:
            client.close()
    text = log.read_text(encoding="utf-8")
    assert "refused a frame of 999999999999 bytes" in text and "refused a frame of 2000000000 bytes" in text
    assert "no length" in text and "two Content-Length headers" in text and "runs into the next frame" in text


def test_headers_split_across_reads_are_read_whole(fake_model, tmp_path):
    """A pipe delivers what the client wrote in pieces of its own: a header cut inside its name,
    its number or its line end is still one header, and a huge length cut in two is still
    refused."""
    log = tmp_path / "server.log"
    client = PipeClient("--model", str(fake_model), "--threads", "1", "--log-file", str(log))
    try:
        client.initialize()
        request = status_request("split")
        body_at = request.index(b"{")
        huge = b"Content-Length: 9999" + b"99999999\r\n\r\n{}"
        cuts = (len(b"Content-Le"), len(b"Content-Length: "), request.index(b"\r\n") + 1, body_at + 7)
        pieces = [huge[:20], huge[20:]] + [request[start:end] for start, end in zip((0, *cuts), (*cuts, None))]
        for piece in pieces:
            client.process.stdin.write(piece)
            client.process.stdin.flush()
            time.sleep(0.05)  # each piece its own read
        assert "result" in answered_within(client, "split", 1.0)
        assert client.process.poll() is None
    finally:
        if client.process.poll() is None:
            client.close()
    assert "refused a frame of 999999999999 bytes" in log.read_text(encoding="utf-8")


def test_a_large_legal_frame_arrives_in_pieces_and_is_read(fake_model):
    """A 20 MiB didOpen (under the cap) is read as it arrives, whole: its last line is known."""
    opened, lines = legal_open(20)
    assert 20 << 20 <= len(opened) < MOST_FRAME_BYTES
    client = PipeClient("--model", str(fake_model), "--threads", "1")
    try:
        client.initialize()
        client.process.stdin.write(opened)

        def reason_at(line: int) -> str:
            client.send({"id": line, "method": "infill/explain",
                         "params": {"textDocument": {"uri": BIG_URI}, "position": {"line": line, "character": 0}}})
            return answered_within(client, line, 30.0)["result"]["reason"]

        assert reason_at(lines - 1) == "never_asked"
        assert reason_at(lines + 1) == "bad_position"
    finally:
        if client.process.poll() is None:
            client.close()
