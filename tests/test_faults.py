"""Faults outside the protocol: the model file vanishing, a context too large for memory, the
editor dying, a full disk, huge and binary documents. Each gives one clear message (or none is
needed) and the server keeps serving what it can.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.jsonrpc_pipe import PipeClient

URI = "file:///work/app.py"


def status(client: PipeClient, request_id: str) -> dict:
    client.send({"id": request_id, "method": "infill/status", "params": {}})
    return client.response(request_id)["result"]


def wait_loaded(client: PipeClient) -> dict:
    for attempt in range(300):
        answer = status(client, f"loaded-{attempt}")
        if answer["loaded"] or answer["error"]:
            return answer
        time.sleep(0.1)
    raise AssertionError("the model never finished loading")


def assert_one_load_error_and_empty_answers(client: PipeClient, says: str) -> None:
    """The model did not load: the status error ``says`` why, the editor is told once, and
    requests get empty answers."""
    try:
        client.initialize()
        answer = wait_loaded(client)
        assert answer["loaded"] is False and says in answer["error"], answer
        client.open(URI, "x = ")
        client.inline(1, URI, 0, 4)
        assert client.response(1)["result"]["items"] == []
        errors = [m for m in client.seen if m.get("method") == "window/showMessage"]
        assert len(errors) == 1, errors
    finally:
        client.close()


def test_the_model_file_deleted_while_running_keeps_serving(starcoder_model, tmp_path):
    model = tmp_path / "model.gguf"
    shutil.copy(starcoder_model, model)
    log = tmp_path / "server.log"
    client = PipeClient("--model", str(model), "--threads", "1", "--log-file", str(log))
    try:
        client.initialize({"completion": {"maxTokens": 4}})
        wait_loaded(client)
        client.open(URI, "def add(a, b):\n    return ")
        client.inline(1, URI, 1, 11)
        assert "result" in client.response(1)
        model.unlink()  # the weights are already in memory
        client.open(URI.replace("app", "other"), "def mul(a, b):\n    return ")  # a new prompt, not a cached one
        client.inline(2, URI.replace("app", "other"), 1, 11)
        assert "result" in client.response(2)
        assert status(client, "after")["loaded"] is True
    finally:
        client.close()
    # The answer came from the model, not from the empty answer any engine error gets.
    written = log.read_text(encoding="utf-8")
    [second] = [line for line in written.splitlines() if "completion id=2 " in line]
    assert "prompt=" in second and "evaluated=" in second, second
    assert "failed in the engine" not in written


def test_a_truncated_model_file_is_one_clear_error_and_the_server_stays_up(starcoder_model, tmp_path):
    model = tmp_path / "half.gguf"
    whole = starcoder_model.read_bytes()
    model.write_bytes(whole[: len(whole) // 2])  # an interrupted download
    client = PipeClient("--model", str(model), "--threads", "1")
    assert_one_load_error_and_empty_answers(client, "could not load")


def test_a_context_too_large_for_memory_is_one_clear_error_and_the_server_stays_up(starcoder_model):
    # A machine with 3 GiB of address space and an 8M-token context (a 4 GiB KV cache): the same
    # failure on every machine, and fast, where an absurd n_ctx on a big machine first spends
    # seconds and gigabytes on llama.cpp's per-cell bookkeeping.
    client = PipeClient("--model", str(starcoder_model), "--threads", "1", "--n-ctx", str(2**23),
                        address_space=3 << 30)
    assert_one_load_error_and_empty_answers(client, "smaller --n-ctx")


def test_the_server_exits_when_the_editor_that_started_it_is_gone(fake_model):
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    client = PipeClient("--model", str(fake_model), "--threads", "1")
    client.send({"id": "init", "method": "initialize", "params": {"processId": editor.pid, "capabilities": {}}})
    client.response("init")
    editor.wait()
    try:
        client.process.wait(15)  # polled every few seconds
    finally:
        if client.process.poll() is None:
            client.process.kill()
            raise AssertionError("the server outlived its editor")


def test_a_full_disk_under_the_log_file_does_not_stop_completions(fake_model):
    if not Path("/dev/full").exists():
        pytest.skip("this system has no /dev/full")
    client = PipeClient("--model", str(fake_model), "--threads", "1", "--log-file", "/dev/full")
    try:
        client.initialize({"completion": {"maxTokens": 4}})
        wait_loaded(client)
        client.open(URI, "def add(a, b):\n    return ")
        client.inline(1, URI, 1, 11)
        assert "result" in client.response(1)
    finally:
        client.close()


def test_a_ten_megabyte_document_and_binary_content_are_answered(fake_model):
    client = PipeClient("--model", str(fake_model), "--threads", "1")
    try:
        client.initialize({"completion": {"maxTokens": 4}})
        wait_loaded(client)
        huge = "value = compute(1, 2, 3)  # " + "x" * 60 + "\n"
        huge = huge * (10_000_000 // len(huge)) + "result = "
        client.open(URI, huge)
        lines = huge.count("\n")
        started = time.monotonic()
        client.inline(1, URI, lines, 9)
        assert "result" in client.response(1)
        assert time.monotonic() - started < 30
        binary = "".join(chr(c) for c in range(32)) + "\ufffd\x7f\x80\x00" * 1000 + "\nx = "
        client.open("file:///work/blob.py", binary)
        client.inline(2, "file:///work/blob.py", 1, 4)
        assert "result" in client.response(2)
        assert status(client, "after")["loaded"] is True
    finally:
        client.close()
