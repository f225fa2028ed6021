"""Editors without inline completion get the suggestion as one completion item.

The end-to-end tests drive the real server with the capabilities such an editor announces
(no ``textDocument.inlineCompletion``), and compare the item with the ghost text an inline
client gets at the same spot: one path, two ways of showing it.
"""

from __future__ import annotations

import time

from bench.jsonrpc_pipe import PipeClient
from infill_lsp.popup import ItemShape, item_shape, offer_for, popup_item, typed_word

FIB = ('def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n'
       '    return fib\n')
URI = "file:///popup/fib.py"
UNGATED = {"completion": {"confidence": "off"}}
"""The fake engine's copy of `fib` from `fibonacci` is a guess: these tests are about the item, not the gate."""
# What Helix, eglot or Kate announce, in short: a completion popup, and no inline completion.
POPUP_CLIENT = {"textDocument": {"completion": {"completionItem": {"snippetSupport": False},
                                                "contextSupport": True}}}


def test_the_item_replaces_the_typed_part_of_the_word_and_keeps_the_rest():
    item = popup_item("onacci(n - 1) + fibonacci(n - 2)", "    return fib")
    assert item.typed == "fib"
    assert item.new_text == "fibonacci(n - 1) + fibonacci(n - 2)"
    assert item.label == "fibonacci(n - 1) + fibonacci(n - 2)"
    assert popup_item("   ", "x = ") is None
    assert typed_word("print(self.na") == "na" and typed_word("x = ") == ""


def test_a_multi_line_item_is_labelled_by_its_first_line_and_keeps_its_indentation():
    item = popup_item("for value in values:\n        total += value\n    return total", "    ")
    assert item.label == "for value in values:"
    assert item.new_text.split("\n")[1] == "        total += value"
    long = popup_item("x" * 200, "")
    assert len(long.label) == 80 and long.label.endswith("…")


def test_the_style_decides_inline_popup_or_both_from_what_the_client_can_show():
    assert offer_for("auto", client_has_inline=True) == offer_for("inline", client_has_inline=False)
    auto = offer_for("auto", client_has_inline=False)
    assert auto.popup and not auto.inline
    both = offer_for("both", client_has_inline=True)
    assert both.inline and both.popup and both.popup_on_request_only


def ask(client: PipeClient, request_id: str, method: str, line: int, character: int, trigger: int = 1) -> dict:
    context = {"triggerKind": trigger} if method == "textDocument/completion" else {"triggerKind": 2}
    client.send({"id": request_id, "method": method, "params": {
        "textDocument": {"uri": URI}, "position": {"line": line, "character": character}, "context": context}})
    return client.response(request_id)["result"]


def test_an_editor_without_inline_completion_gets_the_suggestion_as_one_item(fake_model):
    inline = PipeClient("--model", fake_model, "--threads", "2")
    try:
        inline_capabilities = inline.initialize(UNGATED)["result"]["capabilities"]
        inline.open(URI, FIB)
        ghost = ask(inline, "ghost", "textDocument/inlineCompletion", 4, 14)["items"][0]["insertText"]
    finally:
        inline.close()
    assert inline_capabilities.get("completionProvider") is None and ghost.strip()

    popup = PipeClient("--model", fake_model, "--threads", "2")
    try:
        capabilities = popup.initialize(UNGATED, POPUP_CLIENT)["result"]["capabilities"]
        popup.open(URI, FIB)
        answer = ask(popup, "popup", "textDocument/completion", 4, 14)
    finally:
        popup.close()
    assert capabilities["completionProvider"] is not None and capabilities.get("inlineCompletionProvider") is None
    assert answer["isIncomplete"] is True
    [item] = answer["items"]
    assert item["textEdit"] == {"range": {"start": {"line": 4, "character": 11}, "end": {"line": 4, "character": 14}},
                                "newText": "fib" + ghost}
    assert item["label"] == ("fib" + ghost).split("\n")[0].strip() and item["detail"] == "Infill"
    # No documentationFormat announced: plain text; no insert modes named: inserted as it is.
    assert item["documentation"] == "fib" + ghost and item["insertTextMode"] == 1


def test_with_both_the_item_comes_only_when_completion_is_invoked(fake_model):
    client = PipeClient("--model", fake_model, "--threads", "2")
    try:
        capabilities = client.initialize({"completion": {"style": "both",
                                                         **UNGATED["completion"]}})["result"]["capabilities"]
        client.open(URI, FIB)
        typed = ask(client, "typed", "textDocument/completion", 4, 14, trigger=2)
        invoked = ask(client, "invoked", "textDocument/completion", 4, 14, trigger=1)
        outside = ask(client, "outside", "textDocument/completion", 40, 0, trigger=1)
    finally:
        client.close()
    assert capabilities["completionProvider"] is not None and capabilities["inlineCompletionProvider"] is not None
    assert typed == {"isIncomplete": False, "items": []}  # the ghost text shows it while typing
    assert len(invoked["items"]) == 1 and invoked["items"][0]["textEdit"]["newText"].startswith("fib")
    assert outside == {"isIncomplete": True, "items": []}  # a bad position: no item, no error


def test_an_editor_that_re_indents_gets_later_lines_without_the_cursor_line_indentation():
    # Sublime LSP names only adjustIndentation: it puts the cursor line's indentation before every
    # later line, so the item leaves it off; editors that insert as given get it as the model wrote it.
    text = "if price < 10:\n            continue\n        total += price"
    sublime = popup_item(text, "        ", item_shape(["markdown", "plaintext"], [2]))
    assert sublime.new_text == "if price < 10:\n    continue\ntotal += price"
    helix = popup_item(text, "        ", item_shape(None, None))
    assert helix.new_text == text
    assert item_shape(None, None) == ItemShape(markdown=False, as_is=True)
    assert item_shape(["plaintext"], [1, 2]) == ItemShape(markdown=False, as_is=True)


DYNAMIC_CLIENT = {"textDocument": {"inlineCompletion": {"dynamicRegistration": True},
                                   "completion": {"dynamicRegistration": True, "contextSupport": True}}}


def registrations(client: PipeClient) -> list[tuple[str, str]]:
    """(register or unregister, method) of every provider request the server sent, in order."""
    return [(message["method"].split("/")[1].removesuffix("Capability"), entry["method"])
            for message in client.seen if message.get("method", "").startswith("client/")
            for entry in message["params"].get("registrations", message["params"].get("unregisterations", []))]


def read_until_registered(client: PipeClient, method: str) -> None:
    """Read what the server sends until it has registered ``method`` (at most 10 s)."""
    for attempt in range(100):
        if ("register", method) in registrations(client):
            return
        time.sleep(0.1)
        settle(client, f"wait-{attempt}")
    raise AssertionError(f"{method} was never registered: {registrations(client)}")


def settle(client: PipeClient, request_id: str) -> None:
    """Let the server act on what was sent before: read until an answer to a cheap request."""
    client.send({"id": request_id, "method": "infill/status", "params": {}})
    client.response(request_id)


def test_a_new_style_swaps_the_providers_in_place_where_the_editor_allows(fake_model):
    # VS Code, coc.nvim, Sublime LSP and lsp-mode allow dynamic registration: the providers are
    # registered after initialized, and completion.style can change without a restart.
    client = PipeClient("--model", fake_model, "--threads", "2")
    try:
        capabilities = client.initialize(UNGATED, DYNAMIC_CLIENT)["result"]["capabilities"]
        client.open(URI, FIB)
        read_until_registered(client, "textDocument/inlineCompletion")
        at_start = registrations(client)
        client.send({"method": "workspace/didChangeConfiguration", "params": {"settings": {"completion": {
            "style": "popup"}}}})
        answer = ask(client, "popup", "textDocument/completion", 4, 14)
        read_until_registered(client, "textDocument/completion")
    finally:
        client.close()
    assert capabilities.get("inlineCompletionProvider") is None and capabilities.get("completionProvider") is None
    assert at_start == [("register", "textDocument/inlineCompletion")]
    assert registrations(client)[1:] == [("unregister", "textDocument/inlineCompletion"),
                                         ("register", "textDocument/completion")]
    assert answer["items"] and answer["items"][0]["textEdit"]["newText"].startswith("fib")


def test_an_editor_without_dynamic_registration_keeps_its_providers_and_is_told(fake_model):
    client = PipeClient("--model", str(fake_model), "--threads", "2")
    try:
        capabilities = client.initialize()["result"]["capabilities"]
        client.send({"method": "workspace/didChangeConfiguration", "params": {"settings": {"completion": {
            "style": "popup"}}}})
        settle(client, "s1")
        client.open(URI, FIB)
        answer = ask(client, "popup", "textDocument/completion", 4, 14)
    finally:
        client.close()
    assert capabilities.get("inlineCompletionProvider") is not None and registrations(client) == []
    told = [message["params"]["message"] for message in client.seen if message.get("method") == "window/showMessage"]
    assert any("when the language server restarts" in text for text in told), told
    assert answer["items"] == []  # still inline only: the editor was never offered the popup
