"""Secrets never reach a prompt or a log line, at any verbosity.

A workspace holds a canary string in every kind of private file: ``.env``, ``id_rsa``, a
``.pem`` key, a ``.gitignore``d file and a file in a ``.gitignore``d folder. The editor even
opens and edits them. The server runs at the highest verbosity (``-vv``: also llama.cpp and
pygls debug logs), where every prompt is logged in full, with repository context on. The
canary must appear nowhere in the log, so in no prompt either.
"""

from __future__ import annotations

import time

from bench.jsonrpc_pipe import PipeClient

CANARY = "CANARY-7f3a9c1e-do-not-leak"
PRIVATE_FILES = {
    ".env": f"API_KEY={CANARY}\n",
    "id_rsa": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n",
    "certs/server.pem": f"-----BEGIN PRIVATE KEY-----\n{CANARY}\n",
    "local_settings.py": f"PASSWORD = '{CANARY}'\ndef connect():\n    return PASSWORD\n",
    "private/notes.py": f"TOKEN = '{CANARY}'\n",
}


def test_a_canary_in_private_files_never_reaches_a_prompt_or_the_log(starcoder_model, tmp_path):
    workspace = tmp_path / "ws"
    for name, text in PRIVATE_FILES.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)
    (workspace / ".gitignore").write_text("local_settings.py\nprivate/\n")
    app = workspace / "app.py"
    app.write_text("from local_settings import PASSWORD, connect\nfrom private.notes import TOKEN\n\nvalue = connect(")
    log = tmp_path / "server.log"
    client = PipeClient("--model", str(starcoder_model), "--threads", "1", "-vv", "--log-file", str(log))
    try:
        client.send({"id": "init", "method": "initialize", "params": {
            "processId": None, "rootUri": workspace.as_uri(), "capabilities": {},
            "initializationOptions": {"context": {"maxTokens": 2000}, "completion": {"maxTokens": 4}}}})
        client.response("init")
        client.send({"method": "initialized", "params": {}})
        for attempt in range(100):  # indexing runs in the background
            client.send({"id": f"status-{attempt}", "method": "infill/status", "params": {}})
            status = client.response(f"status-{attempt}")["result"]
            if status["loaded"] and not status["indexing"]:
                break
            time.sleep(0.1)
        request = 0
        for name, text in PRIVATE_FILES.items():  # the user opens, edits and asks in each private file
            uri = (workspace / name).as_uri()
            client.open(uri, text)
            client.send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 2},
                         "contentChanges": [{"text": text + f"more = '{CANARY}'\n"}]}})
            request += 1
            client.inline(request, uri, 0, 3)
            assert client.response(request)["result"]["items"] == []
        client.open(app.as_uri(), app.read_text())
        for line, character in ((3, 16), (0, 5), (1, 10)):
            request += 1
            client.inline(request, app.as_uri(), line, character)
            client.response(request)
        time.sleep(1.0)  # idle: warming and speculation have had their chance
    finally:
        client.close()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "prompt id=" in text and "DEBUG" in text, "prompts must be in the log for this test to mean anything"
    leaked = [line for line in text.splitlines() if CANARY in line]
    assert not leaked, leaked[:3]
