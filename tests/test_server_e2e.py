"""End to end: the real ``infill-lsp`` process over stdio, driven by pytest-lsp."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from lsprotocol import types

from bench.jsonrpc_pipe import PipeClient
from bench.lsp_client import (
    URI,
    change,
    complete,
    eventually,
    inline_request,
    log_lines,
    open_document,
    session,
)

AREAS = 'def area(width, height):\n    return width * height\n\n\ndef area_of(width, height):\n    return w\n'
"""Line 5 ends where line 1 goes on: the fake engine copies ``idth * height`` from there."""
FIB = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n    return \n'


async def test_initialize_advertises_inline_completion_incremental_sync_and_streaming(fake_model):
    async with session(fake_model) as client:
        capabilities = client.init_result.capabilities
        assert isinstance(capabilities.inline_completion_provider, types.InlineCompletionOptions)
        sync = capabilities.text_document_sync
        assert sync.change == types.TextDocumentSyncKind.Incremental
        assert capabilities.experimental["infill"]["partialCompletion"] is True
        assert client.init_result.server_info.name == "infill"


async def test_default_model_completes_after_incremental_edits(default_model):
    async with session(default_model) as client:
        open_document(client, FIB.replace("    return \n", "    \n"))
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            [types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(4, 4), types.Position(4, 4)), text="return ")],
        ))
        items = await complete(client, URI, 4, 11)
        assert len(items) == 1
        assert items[0].insert_text.strip()
        assert "\n" not in items[0].insert_text  # after code on a line: single-line
        assert items[0].range == types.Range(types.Position(4, 11), types.Position(4, 11))
        assert re.search(r"\bn\b|fibonacci", items[0].insert_text), items[0].insert_text  # the function's own names


async def test_unknown_documents_and_bad_positions_get_empty_results(fake_model, tmp_path):
    log = tmp_path / "server.log"
    async with session(fake_model, args=("--log-file", str(log))) as client:
        open_document(client, "x = 1\n")
        assert await complete(client, "file:///nowhere.py", 0, 0) == []
        assert await complete(client, URI, 99, 0) == []
        assert await complete(client, URI, 0, 500) == []
        await complete(client, URI, 1, 0)  # the end of the document is a valid position
    skipped = [line for line in log.read_text().splitlines() if "skipped:" in line]
    assert [line.split("skipped: ")[1] for line in skipped] == ["unknown_document", "bad_position", "bad_position"]


async def test_configuration_disables_completion_and_reports_bad_values(fake_model):
    async with session(fake_model, options={"completion": {"maxTokens": "many"}}) as client:
        await eventually(lambda: any("completion.maxTokens" in m.message for m in client.messages))
        open_document(client, FIB)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"infill": {"completion": {"enabled": False}}}))
        assert await complete(client, URI, 4, 11) == []
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"infill": {"completion": {"enabled": True}}}))
        assert len(await complete(client, URI, 4, 11)) == 1


async def test_missing_model_still_serves_and_says_how_to_fix_it_once(tmp_path):
    async with session(tmp_path / "missing.gguf") as client:
        await eventually(lambda: client.messages)
        open_document(client, FIB)
        assert await complete(client, URI, 4, 11) == []
        assert await complete(client, URI, 4, 11) == []
        errors = [m for m in client.messages if m.type == types.MessageType.Error]
        assert len(errors) == 1
        assert "could not load the model" in errors[0].message and "--model" in errors[0].message


async def test_corrupt_model_still_serves(tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00" * 64)
    async with session(corrupt) as client:
        await eventually(lambda: client.messages)
        open_document(client, FIB)
        assert await complete(client, URI, 4, 11) == []
        assert "could not load" in client.messages[0].message


def cancelled_generation(log: Path) -> tuple[int, int]:
    """(prompt tokens, evaluated tokens) of the first cancelled generation in the server log."""
    line = next(line for line in log.read_text().splitlines() if "generation cancelled" in line)
    return int(line.split("prompt=")[1].split()[0]), int(line.split("evaluated=")[1].split()[0])


def test_client_cancellation_stops_prompt_evaluation(fake_model, tmp_path):
    log = tmp_path / "server.log"
    long_file = "".join(f"value_{i} = compute_something({i}, factor={i * 3})\n" for i in range(400))
    # 2,000 prompt tokens a second: the 6,000-token prompt takes 3 s to evaluate
    client = PipeClient("--model", fake_model + "?prefill=2000", "--log-file", str(log))
    try:
        client.initialize({"completion": {"windowTokens": 6000, "multiline": "always", "promptBudgetMs": 0}})
        client.open(URI, long_file + "\n")
        client.inline("warm", URI, 0, 0)
        client.response("warm")  # the model is loaded: the next request starts at once
        client.inline("long", URI, 400, 0)
        time.sleep(0.5)  # as an editor would: cancel once the request is being worked on
        client.send({"method": "$/cancelRequest", "params": {"id": "long"}})
        answer = client.response("long")
        assert answer["error"]["code"] == types.LSPErrorCodes.RequestCancelled
        client.open("file:///work/other.py", "y = \n")
        client.inline("next", "file:///work/other.py", 0, 4)
        assert "result" in client.response("next")
    finally:
        client.close()
    prompt, evaluated = cancelled_generation(log)
    assert evaluated < prompt


async def test_newer_request_for_the_same_document_wins(fake_model, tmp_path):
    log = tmp_path / "server.log"
    long_file = "".join(f"item_{i} = make_item({i})\n" for i in range(300))
    options = {"completion": {"windowTokens": 5000}}
    async with session(fake_model, options=options, args=("--log-file", str(log))) as client:
        open_document(client, long_file + "result = ")
        await complete(client, URI, 0, 0)
        first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_request(URI, 300, 9)))
        await asyncio.sleep(0)
        second = await client.text_document_inline_completion_async(inline_request(URI, 1, 0))
        earlier = await first
        assert list(earlier.items) == []
        assert isinstance(second, types.InlineCompletionList)
    finished = [line for line in log.read_text().splitlines() if line.count("completion id=") and "stop=" in line]
    assert any("stop=cancelled" not in line for line in finished), "the newer request must run to its end"
    prompt, evaluated = cancelled_generation(log)
    assert evaluated < prompt


async def test_streaming_partials_are_cumulative_and_end_with_the_result(fake_model):
    experimental = {"infill": {"partialCompletion": True}}
    options = {"completion": {"multiline": "always", "maxTokens": 48}}
    async with session(fake_model, options=options, experimental=experimental) as client:
        # The fake engine copies what followed the same text earlier: the first function's body.
        document = ("import math\n\n\ndef circle_area(radius):\n    area = math.pi * radius ** 2\n    return area\n\n\n"
                    "def circle_area_rounded(radius):\n    \n")
        open_document(client, document)
        items = await complete(client, URI, 9, 4)
        assert items, "the model produced no suggestion"
        await eventually(lambda: client.partials and client.partials[-1].done)
        partials = client.partials
        assert partials[-1].done is True
        assert partials[-1].text == items[0].insert_text
        assert partials[-1].textDocument.uri == URI
        sequences = [p.sequence for p in partials]
        assert sequences == sorted(sequences)
        texts = [p.text for p in partials]
        assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))


async def test_fim_model_completes_through_the_server(starcoder_model, tmp_path):
    log = tmp_path / "server.log"
    async with session(starcoder_model, options={"completion": {"maxTokens": 16}}, args=("--log-file",
                                                                                         str(log))) as client:
        open_document(client, FIB)
        await complete(client, URI, 4, 11)
    fim_lines = [line for line in log.read_text().splitlines() if "completion id=" in line and "mode=fim-psm" in line]
    assert fim_lines and "generated=" in fim_lines[0], "the FIM prompt must have been evaluated and sampled"


async def test_typing_along_the_suggestion_is_answered_without_the_model(fake_model, tmp_path):
    log = tmp_path / "server.log"
    async with session(fake_model, args=("--log-file", str(log))) as client:
        open_document(client, AREAS)
        first = (await complete(client, URI, 5, 12))[0].insert_text
        assert len(first) > 2
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            [types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(5, 12), types.Position(5, 12)), text=first[:2])],
        ))
        second = (await complete(client, URI, 5, 14))[0].insert_text
        assert second == first[2:]
    assert "type_through" in log.read_text()


async def test_accepting_a_suggestion_shows_the_next_one_computed_ahead(fake_model, tmp_path):
    log = tmp_path / "server.log"
    document = "import os\n\n\ndef list_python_files(folder):\n    files = []\n    "
    async with session(fake_model, args=("--log-file", str(log)),
                       options={"completion": {"multiline": "never"}}) as client:
        open_document(client, document)
        cursor = (document.count("\n"), len(document.split("\n")[-1]))
        first = (await complete(client, URI, *cursor))[0].insert_text
        await eventually(lambda: log_lines(log, "speculation uri="))
        assert "chars=0" not in log_lines(log, "speculation uri=")[0], "the model had nothing to say after the line"
        change(client, URI, 2, *cursor, first)  # Tab: the suggestion is now text
        lines = (document + first).split("\n")
        second = (await complete(client, URI, len(lines) - 1, len(lines[-1])))[0].insert_text
        assert second.strip()
    answered = log_lines(log, "completion id=")  # the first keystroke's, then the one after the acceptance
    assert len(answered) == 2 and " speculative " in answered[1], answered


async def test_idle_time_after_an_edit_warms_the_cache_for_the_next_request(fake_model, tmp_path):
    log = tmp_path / "server.log"
    async with session(fake_model, args=("--log-file", str(log))) as client:
        open_document(client, FIB.replace("    return \n", "    \n"))
        change(client, URI, 2, 4, 4, "return ")  # no request follows: the user paused
        await eventually(lambda: log_lines(log, "warm uri="))
        warmed = log_lines(log, "warm uri=")[0]
        assert "stop=warmed" in warmed and int(warmed.split("evaluated=")[1].split()[0]) > 20
        await complete(client, URI, 4, 11)
    answered = log_lines(log, "completion id=1 ")[0]
    assert int(answered.split("evaluated=")[1].split()[0]) <= 2, answered


async def test_a_document_coming_to_rest_is_warmed_and_a_secret_one_is_not(fake_model, tmp_path):
    log = tmp_path / "server.log"
    secret = (tmp_path / ".env").as_uri()
    async with session(fake_model, args=("--log-file", str(log))) as client:
        open_document(client, FIB)
        open_document(client, "API_KEY=abc\nOTHER=", uri=secret)
        client.protocol.notify("infill/warm", {"textDocument": {"uri": secret}, "position": {"line": 1,
                                                                                             "character": 6}})
        # The editor shows the document with the cursor at the end of line 4: nothing typed yet.
        client.protocol.notify("infill/warm", {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 11}})
        await eventually(lambda: log_lines(log, "warm uri="))
        warmed = log_lines(log, "warm uri=")
        assert len(warmed) == 1 and URI in warmed[0] and "stop=warmed" in warmed[0], warmed
        await complete(client, URI, 4, 11)
    answered = log_lines(log, "completion id=1 ")[0]
    assert int(answered.split("evaluated=")[1].split()[0]) <= 2, answered


def test_a_client_shaped_like_lsp4ij_gets_plain_text_at_the_cursor_and_a_status(fake_model, tmp_path):
    # LSP4IJ (JetBrains) sends every request as Automatic, with no work-done token and no
    # experimental capabilities, cancels a request when the user types on (after its 300 ms
    # debounce), and shows StringValue snippets raw: items must be plain strings. It announces
    # no inline completion capability, so its recipe (clients/jetbrains) sets the style.
    client = PipeClient("--model", fake_model, "--threads", "2")
    try:
        lsp4ij = {"textDocument": {"completion": {"completionItem": {"snippetSupport": True}}}}
        capabilities = client.initialize({"completion": {"style": "inline", "confidence": "off"}},
                                         lsp4ij)["result"]["capabilities"]
        assert capabilities["inlineCompletionProvider"] is not None and capabilities["experimental"]["infill"]["status"]
        assert capabilities.get("completionProvider") is None  # never a popup item beside the ghost text
        client.open(URI, FIB)
        client.inline("stale", URI, 4, 11)
        time.sleep(0.3)
        client.send({"method": "$/cancelRequest", "params": {"id": "stale"}})
        stale = client.response("stale")
        assert "result" in stale or stale["error"]["code"] == types.LSPErrorCodes.RequestCancelled
        client.inline("typed-on", URI, 4, 11)
        items = client.response("typed-on")["result"]["items"]
        assert len(items) == 1 and isinstance(items[0]["insertText"], str) and items[0]["insertText"].strip()
        assert items[0]["range"] == {"start": {"line": 4, "character": 11}, "end": {"line": 4, "character": 11}}
        assert not [m for m in client.seen if m.get("method") == "infill/partialCompletion"]  # not asked for
        client.send({"id": "status", "method": "infill/status", "params": {}})
        status = client.response("status")["result"]
    finally:
        client.close()
    assert status["loaded"] is True and status["mode"] == "prefix-only" and status["error"] is None
    assert status["model"] == fake_model and status["enabled"] is True


async def test_a_cold_prompt_over_the_time_budget_is_shortened_then_grown_in_the_background(fake_model, tmp_path):
    log = tmp_path / "server.log"
    text = "".join(f"def scale_{n}(value):\n    return value * {n} + {n * 7}\n\n\n" for n in range(60))
    line = text.count("\n")
    options = {"completion": {"windowTokens": 512, "promptBudgetMs": 50, "multiline": "never", "maxTokens": 8}}
    # 1,000 prompt tokens a second: a 50 ms budget holds 50 of them
    async with session(fake_model + "?prefill=1000", options=options, args=("--log-file", str(log))) as client:
        open_document(client, text + "def total(values):\n    return sum(scale_3(v) for v in val\n")
        await complete(client, URI, line + 1, 38)
        first = log_lines(log, "completion id=1 ")[0]
        assert " shortened " in first and int(first.split("evaluated=")[1].split()[0]) <= 80, first
        await eventually(lambda: log_lines(log, "grown uri="))  # the full prompt is evaluated meanwhile
        assert "stop=warmed" in log_lines(log, "grown uri=")[0]
        assert sum(int(line.split("evaluated=")[1].split()[0]) for line in log_lines(log, "grow uri=")) > 300
        # The suggestion after accepting this one waits: from the short prompt it would be
        # dropped once the context is in, and it would take the growth's time.
        written = log.read_text(encoding="utf-8").splitlines()
        grown_at = next(number for number, entry in enumerate(written) if "grown uri=" in entry)
        assert not [entry for entry in written[:grown_at] if "speculation uri=" in entry]
        change(client, URI, 2, line + 1, 38, "u")
        await complete(client, URI, line + 1, 39)
    typed_on = log_lines(log, "completion id=2 ")[0]
    assert " shortened " not in typed_on and int(typed_on.split("evaluated=")[1].split()[0]) <= 4, typed_on


async def test_the_full_prompt_grows_while_the_user_types_on_without_pausing(fake_model, tmp_path):
    # A keystroke every 100 ms, each answered before the next: the gaps are shorter than any
    # pause, yet the full prompt grows in them, beside the short prompt the keystrokes use.
    log = tmp_path / "server.log"
    text = "".join(f"def scale_{n}(value):\n    return value * {n} + {n * 7}\n\n\n" for n in range(60))
    before = text + "def total(values):\n    return sum(scale_3(v) for v in val"
    options = {"completion": {"windowTokens": 512, "promptBudgetMs": 50, "multiline": "never", "maxTokens": 8,
                              "speculate": False}}
    typing = "ues)\n    count = len(values)\n    average = total / count if count else 0\n    return average\n" * 4
    # 1,000 prompt tokens a second: a 50 ms budget holds 50 of them
    async with session(fake_model + "?prefill=1000", options=options, args=("--log-file", str(log))) as client:
        open_document(client, before + "\n")
        lines = before.split("\n")
        await complete(client, URI, len(lines) - 1, len(lines[-1]))
        assert " shortened " in log_lines(log, "completion id=1 ")[0]
        for version, char in enumerate(typing, start=2):
            if log_lines(log, "grown uri="):
                break
            await asyncio.sleep(0.1)
            change(client, URI, version, len(lines) - 1, len(lines[-1]), char)
            before += char
            lines = before.split("\n")
            await complete(client, URI, len(lines) - 1, len(lines[-1]))
        else:
            raise AssertionError(f"the full prompt never grew while {len(typing)} keystrokes came every 100 ms")
        assert "stop=warmed" in log_lines(log, "grown uri=")[0]
        change(client, URI, version + 1, len(lines) - 1, len(lines[-1]), "x")
        await complete(client, URI, len(lines) - 1, len(lines[-1]) + 1)
    after = log_lines(log, "completion id=")[-1]
    # The grown prompt lacks only what was typed while it grew.
    assert " shortened " not in after and int(after.split("evaluated=")[1].split()[0]) <= 40, after


def test_why_no_completion_here_names_the_cause_at_the_cursor(fake_model):
    client = PipeClient("--model", fake_model, "--threads", "2")

    def explain(request_id: str, line: int, character: int, uri: str = URI) -> dict:
        client.send({"id": request_id, "method": "infill/explain",
                     "params": {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}})
        return client.response(request_id)

    try:
        assert client.initialize()["result"]["capabilities"]["experimental"]["infill"]["explain"] is True
        client.open(URI, FIB)
        client.inline("asked", URI, 4, 11)
        items = client.response("asked")["result"]["items"]
        answer = explain("here", 4, 11)["result"]
        assert answer["reason"] in (("shown",) if items else ("empty_suggestion", "held_back")), answer
        assert answer["message"]
        assert explain("elsewhere", 0, 0)["result"]["reason"] == "never_asked"
        assert explain("outside", 99, 0)["result"]["reason"] == "bad_position"
        assert explain("unknown", 0, 0, "file:///work/never-opened.py")["result"]["reason"] == "unknown_document"
        client.open("file:///work/.env", "API_KEY=\n")
        secret = explain("secret", 0, 8, "file:///work/.env")["result"]
        assert secret["reason"] == "secret_file" and "never sent" in secret["message"]
        client.send({"id": "malformed", "method": "infill/explain", "params": {"position": "nowhere"}})
        assert "textDocument" in client.response("malformed")["error"]["message"]
        assert explain("still-serving", 4, 11)["result"]["reason"] == answer["reason"]
    finally:
        client.close()


def test_a_form_feed_does_not_shift_the_line_numbers_of_edits(fake_model):
    # Editors end lines only at \n, \r\n and \r; a form feed is an ordinary character.
    client = PipeClient("--model", str(fake_model), "--threads", "1")

    def reason(request_id: str, line: int, character: int) -> str:
        client.send({"id": request_id, "method": "infill/explain",
                     "params": {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}})
        return client.response(request_id)["result"]["reason"]

    try:
        client.initialize()
        client.open(URI, "x = 1\x0c\ny = ")
        assert reason("end of line 1", 1, 4) != "bad_position"
        client.send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": URI, "version": 2},
                     "contentChanges": [{"range": {"start": {"line": 1, "character": 4},
                                                   "end": {"line": 1, "character": 4}}, "text": "2"}]}})
        assert reason("after the edit", 1, 5) != "bad_position"
        assert reason("past the end", 1, 6) == "bad_position"
    finally:
        client.close()
