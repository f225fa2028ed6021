"""A broken frame on stdin loses only itself: the server reads on at the next header, and a
stream with no header at all ends the server with a message, so that the editor restarts it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from bench.jsonrpc_pipe import PipeClient, frame

from infill_lsp.framing import MOST_LOST_BYTES


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


def test_a_frame_shorter_or_longer_than_its_length_loses_only_itself(starcoder_model, tmp_path):
    log = tmp_path / "server.log"
    client = PipeClient("--model", str(starcoder_model), "--threads", "1", "--log-file", str(log))
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
        # Too long: the frame eats the start of the next one, which is lost too; the one after is answered.
        client.process.stdin.write(b"Content-Length: %d\r\n\r\n" % (len(body) + 30) + body)
        client.process.stdin.write(status_request("eaten") + status_request("after-long"))
        client.process.stdin.flush()
        assert "result" in answered_within(client, "after-long", 1.0)
        assert not [m for m in client.seen if m.get("id") == "eaten"]
    finally:
        if client.process.poll() is None:
            client.close()
    lost = [line for line in log.read_text(encoding="utf-8").splitlines() if "lost " in line and "broken frame" in line]
    assert len(lost) == 2 and "lost 20 bytes" in lost[0], lost


def test_a_stream_without_headers_ends_the_server_with_a_message(starcoder_model):
    server = subprocess.Popen([sys.executable, "-m", "infill_lsp", "--model", str(starcoder_model), "--threads", "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    junk = b"this is not LSP\n" * (MOST_LOST_BYTES // 16 + 2)
    _out, err = server.communicate(junk, timeout=60)
    assert server.returncode == 1
    assert b"no LSP header in the last" in err and b"restart the server" in err
