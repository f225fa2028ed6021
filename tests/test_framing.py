"""A broken frame on stdin loses only itself: the server reads on at the next header, and a
stream with no header at all ends the server with a message, so that the editor restarts it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from bench.jsonrpc_pipe import PipeClient, frame
from infill_lsp.framing import MOST_FRAME_BYTES, MOST_LOST_BYTES


def answered_within(client: PipeClient, request_id: str, seconds: float) -> dict:
    answers: list[dict] = []
    reader = threading.Thread(target=lambda: answers.append(client.response(request_id)), daemon=True)
    reader.start()
    reader.join(seconds)
    if not answers:
        client.process.kill()  # a stuck server would never answer the shutdown either
        raise AssertionError(f"no answer to {request_id!r} within {seconds} s")
    return answers[0]


def status_request(request_id: str) -> bytes:
    return frame({"jsonrpc": "2.0", "id": request_id, "method": "infill/status", "params": {}})


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


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


LYING_HEADERS = [
    ("huge", b"Content-Length: 999999999999\r\n\r\n{}"),
    ("over the cap but allocatable", b"Content-Length: 2000000000\r\n\r\n{}"),
    ("negative", b"Content-Length: -5\r\n\r\n{}"),
    ("not a number", b"Content-Length: lots\r\n\r\n{}"),
    ("two lengths", b"Content-Length: 2\r\nContent-Length: 9999\r\n\r\n{}"),
    ("longer than what follows", b"Content-Length: 4000\r\n\r\n{}"),
]


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
    finally:
        if client.process.poll() is None:
            client.close()
    text = log.read_text(encoding="utf-8")
    assert "refused a frame of 999999999999 bytes" in text and "refused a frame of 2000000000 bytes" in text
    assert "no length" in text and "two Content-Length headers" in text and "runs into the next frame" in text


def test_a_large_legal_frame_arrives_in_pieces_and_is_read(fake_model):
    """A 20 MiB didOpen (under the cap) is read as it arrives; the request after it is answered."""
    assert 20 << 20 < MOST_FRAME_BYTES
    client = PipeClient("--model", str(fake_model), "--threads", "1")
    try:
        client.initialize()
        text = "x = 1\n" * ((20 << 20) // 6)
        client.process.stdin.write(frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": "file:///work/big.py", "languageId": "python", "version": 1, "text": text}}}))
        client.process.stdin.write(status_request("after-large"))
        client.process.stdin.flush()
        assert "result" in answered_within(client, "after-large", 30.0)
    finally:
        if client.process.poll() is None:
            client.close()
