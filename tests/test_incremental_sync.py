"""Incremental sync: after any run of edits, the server's text is what a full sync would give.

Edits are drawn at random over text made of ASCII, multi-byte and astral characters and every
kind of line break LSP knows (and characters LSP does *not* count as line breaks: form feed,
U+2028). Positions are UTF-16 code units, as editors send them. The expected text is computed
here, independently of the server's code.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from bench.jsonrpc_pipe import utf16_length
from infill_lsp.documents import LspWorkspace, lsp_lines

URI = "file:///w/edited.py"
PIECES = ["a", "b", " ", "\t", "é", "中", "😀", "\U0001d11e", "\n", "\r\n", "\r", "\x0c", "\u2028", "\x85"]
texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
EDITS_PER_EXAMPLE = 50
EXAMPLES = 200
"""200 examples × 50 edits: 10,000 edits per run."""


def line_starts(text: str) -> list[int]:
    """Code-point offsets where each line starts; only \\n, \\r\\n and \\r end a line."""
    starts, index = [0], 0
    while index < len(text):
        if text[index] == "\r" and text[index + 1:index + 2] == "\n":
            index += 2
            starts.append(index)
            continue
        index += 1
        if text[index - 1] in "\r\n":
            starts.append(index)
    return starts


def line_content(text: str, starts: list[int], line: int) -> str:
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[starts[line]:end].rstrip("\r\n")


@st.composite
def spot(draw, text: str) -> tuple[int, types.Position]:
    """A code-point offset and its LSP position (never inside a line break or a surrogate pair)."""
    starts = line_starts(text)
    line = draw(st.integers(0, len(starts) - 1))
    content = line_content(text, starts, line)
    column = draw(st.integers(0, len(content)))
    return starts[line] + column, types.Position(line, utf16_length(content[:column]))


@given(st.data(), texts)
@settings(max_examples=EXAMPLES, deadline=None, database=None)
def test_ten_thousand_random_edits_leave_the_text_a_full_sync_would_give(data, initial):
    workspace = LspWorkspace(None)
    workspace.put_text_document(types.TextDocumentItem(URI, "python", 0, initial))
    expected = initial
    for version in range(1, EDITS_PER_EXAMPLE + 1):
        (a, start), (b, end) = sorted([data.draw(spot(expected)), data.draw(spot(expected))], key=lambda s: s[0])
        inserted = data.draw(texts)
        change = types.TextDocumentContentChangePartial(range=types.Range(start, end), text=inserted)
        workspace.update_text_document(types.VersionedTextDocumentIdentifier(version=version, uri=URI), change)
        expected = expected[:a] + inserted + expected[b:]
        document = workspace.get_text_document(URI)
        assert document.source == expected, (start, end, inserted)
        assert document.version == version


def test_only_lsp_line_breaks_end_lines():
    assert lsp_lines("a\x0cb\u2028c\nd\r\ne\rf") == ("a\x0cb\u2028c\n", "d\r\n", "e\r", "f")
    assert lsp_lines("") == () and lsp_lines("x\n") == ("x\n",) and lsp_lines("\n\n") == ("\n", "\n")
