"""Incremental tokenization: blocks joined are the text's own tokens, and typing re-encodes little."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from infill_lsp.engine.fake_engine import FakeEngine
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.fim.blocks import LINE_QUANTUM, PromptMemo, block_starts, tail_blocks
from infill_lsp.fim.prompt import build_prompt, fit_window

# Real code with the shapes that matter at block seams: indentation, blank lines, decorators,
# strings, comments and closing brackets at the end of a line (the standard library's, so that
# no change to this project's code moves what the test reads).
SOURCE = Path(functools.__file__).read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=["fake", *(pytest.param(name, marks=pytest.mark.real)
                                                  for name in ("starcoder", "codellama"))])
def engine(request):
    """Block seams matter most to BPE and SentencePiece vocabularies (the real two); the fake
    engine's byte tokens check the memo and the budget arithmetic in the fast tier."""
    if request.param == "fake":
        yield FakeEngine("fake:?fim=psm")
        return
    engine = LlamaEngine(str(request.getfixturevalue(f"{request.param}_model")), n_ctx=512, n_threads=1)
    yield engine
    engine.close()


def tokens_for(engine, tokens: int) -> int:
    """A budget of ``tokens`` tokens of a real vocabulary, in the engine's tokens (the fake's
    are bytes: about 4 to a real token)."""
    return tokens * 4 if isinstance(engine, FakeEngine) else tokens


class CountingEncoder:
    """The real encoder, counting the characters it is asked to encode."""

    def __init__(self, encoder) -> None:
        self.encoder, self.characters = encoder, 0

    def encode(self, text: str) -> list[int]:
        self.characters += len(text)
        return self.encoder.encode(text)

    def encode_infilling(self, text: str) -> list[int]:
        self.characters += len(text)
        return self.encoder.encode_infilling(text)


def test_blocks_start_at_the_newline_before_every_sixteenth_line():
    text = "".join(f"line {i}\n" for i in range(40))
    starts = block_starts(text)
    assert [text[start + 1:].split("\n")[0] for start in starts[1:]] == [f"line {LINE_QUANTUM}",
                                                                         f"line {2 * LINE_QUANTUM}"]


def test_joined_block_tokens_are_the_tokens_of_the_whole_text(engine):
    assert SOURCE.count("\n") > 8 * LINE_QUANTUM
    kept, tokens = tail_blocks(SOURCE, engine.encoder, 100_000, PromptMemo().blocks)
    assert kept == SOURCE
    assert tokens == engine.encoder.encode(SOURCE)


def test_a_keystroke_reencodes_only_the_block_being_typed_in(engine):
    counting, memo = CountingEncoder(engine.encoder), PromptMemo()
    mode = engine.mode()
    document = SOURCE[: SOURCE.index("def total_ordering(")]
    fit_window(document, "\n", mode, counting, budget=tokens_for(engine, 300), memo=memo)
    counting.characters = 0
    typed = fit_window(document + "def tot", "\n", mode, counting, budget=tokens_for(engine, 300), memo=memo)
    last_block = len(document) - block_starts(document)[-1] + len("def tot")
    assert counting.characters <= last_block + 2
    assert typed.prefix_tokens == fit_window(document + "def tot", "\n", mode, engine.encoder,
                                             budget=tokens_for(engine, 300)).prefix_tokens


def test_a_long_prefix_is_cut_to_whole_blocks_within_the_budget(engine):
    text, budget = SOURCE * 3, tokens_for(engine, 500)
    prompt = build_prompt(text, "", engine.mode(fim="off"), engine.encoder, budget=budget)
    assert prompt.n_prefix_tokens <= budget - 1  # room for BOS
    assert text.endswith(prompt.prefix) and prompt.prefix.startswith("\n")
    start = len(text) - len(prompt.prefix)
    assert start in block_starts(text)
    one_more_block = max(s for s in block_starts(text) if s < start)
    assert len(engine.encoder.encode_infilling(text[one_more_block:])) > budget - 1, "the cut kept too little"
