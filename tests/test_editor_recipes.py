"""Each recipe of docs/editors.md against a client that announces exactly what that editor
announces (tests/editor_capabilities.py) and applies the answer as that editor does: in the
position encoding the server chose, re-indenting later lines where the editor always does. Every
editor must end with the same text, the text that ghost text accepted at the cursor gives."""

from __future__ import annotations

import pytest

from bench.jsonrpc_pipe import PipeClient, utf16_length
from tests.editor_capabilities import EDITORS, Editor

URI = "file:///recipes/describe.py"
DOCUMENT = ('def describe(prices):\n    names = ["café", "thé"]\n    label = "café: " + str(pri\n'
            "    for price in prices:\n        \n")
SPOTS = [(2, len('    label = "café: " + str(pri')), (4, 8)]  # mid-word after non-ASCII; an indented blank line
# Short suggestions end by their token count, never by the clock, so every editor gets the same.
SHORT = {"completion": {"maxTokens": 24, "confidence": "off"}}
"""Every suggestion shown: these tests are about how each editor inserts one, not which are shown."""

UNITS = {"utf-8": lambda text: len(text.encode("utf-8")), "utf-32": len,
         "utf-16": utf16_length}


def offset(text: str, line: int, character: int, encoding: str) -> int:
    """The string index of an LSP position counted in ``encoding``'s units."""
    start = sum(len(row) + 1 for row in text.split("\n")[:line])
    row = text.split("\n")[line]
    column = next(index for index in range(len(row) + 1) if UNITS[encoding](row[:index]) >= character)
    return start + column


def column(text: str, line: int, index: int, encoding: str) -> int:
    return UNITS[encoding](text.split("\n")[line][:index])


def accept(editor: Editor, item: dict, text: str, encoding: str) -> str:
    """The document after the editor applies the item's edit, as that editor does."""
    edit = item["textEdit"]
    start = offset(text, edit["range"]["start"]["line"], edit["range"]["start"]["character"], encoding)
    end = offset(text, edit["range"]["end"]["line"], edit["range"]["end"]["character"], encoding)
    new_text = edit["newText"]
    modes = editor.capabilities["textDocument"]["completion"]["completionItem"].get("insertTextModeSupport")
    adjusts = item.get("insertTextMode") == 2 or (modes is not None and 1 not in modes["valueSet"])
    if adjusts:  # the cursor line's indentation goes before every later line
        line_start = text.rfind("\n", 0, start) + 1
        indent = text[line_start:start][: len(text[line_start:start]) - len(text[line_start:start].lstrip())]
        new_text = new_text.replace("\n", "\n" + indent)
    return text[:start] + new_text + text[end:]


def offered(capabilities: dict, seen: list[dict]) -> set[str]:
    """The providers offered: in the initialize answer, or registered once the client allowed it."""
    static = {name for name, key in (("popup", "completionProvider"), ("inline", "inlineCompletionProvider"))
              if capabilities.get(key) is not None}
    registered = {{"textDocument/completion": "popup", "textDocument/inlineCompletion": "inline"}[entry["method"]]
                  for message in seen if message.get("method") == "client/registerCapability"
                  for entry in message["params"]["registrations"]}
    return static | registered


def session(editor: Editor, default_model) -> tuple[set[str], list[dict], str]:
    """The providers offered, the server's answer at each spot, and the position encoding it chose."""
    client = PipeClient("--model", str(default_model), "--threads", "2")
    try:
        options = {**editor.options, "completion": {**editor.options.get("completion", {}), **SHORT["completion"]}}
        capabilities = client.initialize(options, editor.capabilities)["result"]["capabilities"]
        client.open(URI, DOCUMENT)
        method = "textDocument/inlineCompletion" if editor.inline else "textDocument/completion"
        answers = []
        for number, (line, index) in enumerate(SPOTS):
            encoding = capabilities.get("positionEncoding", "utf-16")
            params = {"textDocument": {"uri": URI},
                      "position": {"line": line, "character": column(DOCUMENT, line, index, encoding)}}
            if editor.inline:
                params["context"] = {"triggerKind": 2}
            elif editor.context is not None:
                params["context"] = editor.context
            client.send({"id": str(number), "method": method, "params": params})
            answers.append(client.response(str(number))["result"])
    finally:
        client.close()
    return offered(capabilities, client.seen), answers, capabilities.get("positionEncoding", "utf-16")


@pytest.fixture(scope="module")
def ghost_text_results(default_model) -> list[str]:
    """The document after accepting the ghost text at each spot (lsp-mode's recipe is inline)."""
    editor = next(editor for editor in EDITORS if editor.inline)
    providers, answers, _encoding = session(editor, default_model)
    assert providers == {"inline"}
    results = []
    for (line, index), answer in zip(SPOTS, answers):
        [item] = answer["items"]
        cursor = offset(DOCUMENT, line, 0, "utf-32") + index
        results.append(DOCUMENT[:cursor] + item["insertText"] + DOCUMENT[cursor:])
    assert "\n" in results[1][offset(results[1], 4, 8, "utf-32"):].rstrip("\n"), "expected a multi-line suggestion"
    return results


@pytest.mark.parametrize("editor", [editor for editor in EDITORS if not editor.inline], ids=lambda editor: editor.name)
def test_the_recipe_inserts_what_ghost_text_would(editor, default_model, ghost_text_results):
    providers, answers, encoding = session(editor, default_model)
    assert providers == {"popup"}
    formats = editor.capabilities["textDocument"]["completion"]["completionItem"].get("documentationFormat", [])
    for answer, expected in zip(answers, ghost_text_results):
        [item] = answer["items"]
        assert accept(editor, item, DOCUMENT, encoding) == expected, (editor.name, encoding, item["textEdit"])
        # Markdown only where the editor reads it.
        assert isinstance(item["documentation"], dict) == ("markdown" in formats)
