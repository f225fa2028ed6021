"""Token healing at a cursor inside a word, on real vocabularies (SmolLM2's byte-level BPE and
the Llama SentencePiece one): the prompt keeps exactly the tokens the finished line starts with,
and the text taken off is what the model is made to write first."""

from __future__ import annotations

import pytest

from bench.lsp_client import URI, change, complete, indexed, open_document, session
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.native import NativeModel
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.engine.vocabulary import Vocabulary
from infill_lsp.fim.healing import PieceTable, heal
from infill_lsp.settings import CompletionSettings

LINES = [
    # (what the line reads once finished, where the word being typed starts)
    ("    return rectangle_perimeter_in_metres(10, 10)\n", "rectangle"),
    ("        handler = self.parse_remote_config(path)\n", "parse_remote"),
    ("    humanReadableArgName(option);\n", "humanReadable"),
    ("    größe_berechnen(breite, höhe)\n", "größe"),
    ('    print("hello, world")\n', "hello"),
    ("    result = compute_total(values)\n", "compute"),
]


@pytest.fixture(scope="module", params=["smollm2", "llama"])
def vocabulary(request, default_model, codellama_model) -> Vocabulary:
    path = default_model if request.param == "smollm2" else codellama_model
    return Vocabulary(NativeModel(str(path), vocab_only=True))


def cuts(line: str, word: str):
    """Every cut the user's typing makes in the word, and the line prefix up to it."""
    start = line.index(word)
    end = start + len(line[start:].split("(")[0].split('"')[0].split(",")[0])
    for at in range(start + 1, end + 1):
        yield line[:at]


@pytest.mark.parametrize("line,word", LINES)
def test_the_prompt_keeps_the_tokens_the_finished_line_starts_with(vocabulary, line, word):
    encode, pieces = vocabulary.encoder.encode_infilling, vocabulary.pieces()
    finished = encode("def f():\n" + line)
    mid_token_cuts = 0
    for typed in cuts(line, word):
        text = "def f():\n" + typed
        tokens = encode(text)
        healing = heal(tokens, text, pieces)
        kept = tokens[:healing.kept]
        assert b"".join(pieces.pieces[t] for t in kept).decode() + healing.forced == text, typed  # nothing lost
        assert finished[:len(kept)] == kept, f"{typed!r}: the prompt ends on a boundary the finished line lacks"
        typed_word = typed[line.index(word):]
        assert len(healing.forced) <= len(typed_word) + 1, f"{typed!r}: healing left the word"  # + its space
        if finished[:len(tokens)] != tokens:
            mid_token_cuts += 1
            assert healing.forced, f"{typed!r} ends inside a token and was not healed"
    assert mid_token_cuts, "no cut fell inside a token: the case tests nothing"


def test_a_cut_after_a_complete_word_stays_on_its_boundary(vocabulary):
    """``return`` typed in full: whatever is backed off, the kept tokens start the finished line."""
    encode, pieces = vocabulary.encoder.encode_infilling, vocabulary.pieces()
    for typed, finished in (("    return", "    return value\n"), ("x = len(", "x = len(items)\n")):
        tokens = encode(typed)
        healing = heal(tokens, typed, pieces)
        assert encode(finished)[:healing.kept] == tokens[:healing.kept]
        assert typed.endswith(healing.forced)


def test_no_healing_where_the_word_is_cut_by_whitespace_or_at_a_control_token():
    table = PieceTable([b"", b"ab", b"abc", b" ", b"a"])
    assert heal([0], "", table).forced == ""  # a control token alone
    assert heal([4, 3], "a ", table).forced == ""  # ends in whitespace: healed elsewhere
    assert heal([1], "ab", table).kept == 1  # at least one token stays


def test_the_constrained_tokens_spell_what_was_taken_off(default_model):
    """The engine writes the healed text first, in whole tokens the vocabulary has (``imeter``
    after ``per``), then goes on; the completer returns only what follows the cursor."""
    engine = LlamaEngine(str(default_model), n_ctx=1024, n_threads=2)
    completer = LlamaCompleter(engine)
    settings = CompletionSettings(max_tokens=12, prompt_budget_ms=0, multiline="never")
    prefix = ("def rectangle_perimeter_in_metres(width, height):\n    return 2 * (width + height)\n\n\n"
              "print(rectangle_peri")
    request = CompletionRequest(prefix, ")\n", settings, path="shapes.py")
    prompt, _mode = completer.prompt(request)
    assert prompt.forced and "rectangle_peri".endswith(prompt.forced)
    result = completer.complete(request)
    assert result.text.startswith("meter_in_metres"), result.text
    unhealed = completer.complete(CompletionRequest(prefix, ")\n", CompletionSettings(
        max_tokens=12, prompt_budget_ms=0, multiline="never", token_healing=False), path="shapes.py"))
    assert not unhealed.text.startswith("meter_in_metres"), "the case must fail without healing"


SHAPES = ('def rectangle_perimeter_in_metres(width, height):\n    """The perimeter of a rectangle, in metres."""\n'
          '    return 2 * (width + height)\n')
GARDEN = "from shapes import rectangle_perimeter_in_metres\n\n\ndef fence_length():\n    return \n"


async def test_typing_a_name_defined_in_another_file_completes_it_at_every_keystroke(default_model, tmp_path):
    """The reported case: ``return rectangle_peri`` became ``rectangle_periom_in_metres``. Typed
    one character at a time through the real server, each keystroke's suggestion from the
    second character on must finish the name as the import line spells it."""
    (tmp_path / "shapes.py").write_text(SHAPES)
    (tmp_path / "garden.py").write_text(GARDEN)
    uri = (tmp_path / "garden.py").as_uri()
    async with session(default_model, root=tmp_path) as client:
        await indexed(client)
        open_document(client, GARDEN, uri)
        typed, finished = "", []
        for version, character in enumerate("rectangle_peri", start=2):
            change(client, uri, version, 4, 11 + len(typed), character)
            typed += character
            items = await complete(client, uri, 4, 11 + len(typed))
            line = "    return " + typed + (items[0].insert_text if items else "")
            finished.append(line.startswith("    return rectangle_perimeter_in_metres"))
            if typed == "rectangle_peri":
                assert finished[-1], line
        # Unhealed, only the cuts on a token boundary finished it (6 of 14: 'rectangl' went on as
        # 'rectangl_perimeter', 'recta' as 'recta_perimetro_metre').
        assert sum(finished[1:]) >= len(finished) - 2, finished


async def test_healing_in_a_crlf_document_keeps_its_line_ends(fake_model):
    """CRLF text is healed as LF text; the suggestion has no stray carriage return."""
    text = ("def rectangle_perimeter_in_metres(width, height):\r\n    return 2 * (width + height)\r\n\r\n"
            "rectangle_peri\r\n")
    async with session(fake_model) as client:
        open_document(client, text)
        items = await complete(client, URI, 3, len("rectangle_peri"))
        assert items and items[0].insert_text.startswith("meter_in_metres"), items
        assert "\r" not in items[0].insert_text
