"""Golden token sequences: the exact FIM layouts, through llama.cpp's real tokenizers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infill_lsp.context import CursorSnapshot, Snippet
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.fim.formats import CompletionMode
from infill_lsp.fim.prompt import LINE_QUANTUM, build_prompt
from infill_lsp.settings import CompletionSettings

# Meta's codellama example (llama.cpp issue #3503): the reference tokenizer's 28 ids.
PREFIX = 'def remove_non_ascii(s: str) -> str:\n    """ '
SUFFIX = "\n    return result\n"
META_PSM = [1, 32007, 822, 3349, 29918, 5464, 29918, 294, 18869, 29898, 29879, 29901, 851, 29897,
            1599, 851, 29901, 13, 1678, 9995, 29871, 32008, 13, 1678, 736, 1121, 13, 32009]
PREFIX_IDS = META_PSM[2:21]
SUFFIX_IDS = META_PSM[22:27]


@pytest.fixture(scope="module")
def codellama(codellama_model):
    engine = LlamaEngine(str(codellama_model), n_ctx=512, n_threads=1)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def starcoder(starcoder_model):
    engine = LlamaEngine(str(starcoder_model), n_ctx=512, n_threads=1)
    yield engine
    engine.close()


def with_order(mode: CompletionMode, order: str) -> CompletionMode:
    return CompletionMode(replace(mode.fim, order=order), mode.reason)


def test_codellama_psm_reproduces_metas_28_ids(codellama):
    prompt = build_prompt(PREFIX, SUFFIX, with_order(codellama.mode(), "psm"), codellama.encoder, budget=400)
    assert len(META_PSM) == 28
    assert prompt.tokens == META_PSM


def test_codellama_defaults_to_spm_with_metas_layout(codellama):
    mode = codellama.mode()
    assert mode.name == "fim-spm"
    prompt = build_prompt(PREFIX, SUFFIX, mode, codellama.encoder, budget=400)
    assert prompt.tokens == [1, 32007, 32008] + SUFFIX_IDS + [32009] + PREFIX_IDS


def test_codellama_crlf_is_normalized(codellama):
    crlf = build_prompt(PREFIX.replace("\n", "\r\n"), SUFFIX.replace("\n", "\r\n"),
                        with_order(codellama.mode(), "psm"), codellama.encoder, budget=400)
    assert crlf.tokens == META_PSM


def test_codellama_suffix_is_encoded_without_leading_space(codellama):
    assert codellama.encoder.encode("return") == [736]  # "▁return"
    assert codellama.encoder.encode_infilling("return") == [2457]  # "return"


def test_codellama_reports_fim_ids_and_eot(codellama):
    special = codellama.model.special
    assert (special.fim_pre, special.fim_suf, special.fim_mid, special.eot) == (32007, 32008, 32009, 32010)


def test_codellama_python_variant_falls_back_to_prefix_only(codellama_python_model):
    engine = LlamaEngine(str(codellama_python_model), n_ctx=256, n_threads=1)
    try:
        assert engine.mode().name == "prefix-only"
        assert "not trained to infill" in engine.mode().reason
        assert engine.mode(fim="on").name == "fim-spm"
    finally:
        engine.close()


def test_starcoder_psm_and_spm_layouts(starcoder):
    mode = starcoder.mode()
    assert mode.name == "fim-psm"
    pre, suf, mid = (starcoder.model.special.fim_pre, starcoder.model.special.fim_suf, starcoder.model.special.fim_mid)
    prefix_ids, suffix_ids = starcoder.encoder.encode("x = 1\ny = "), starcoder.encoder.encode("\nprint(y)\n")
    psm = build_prompt("x = 1\ny = ", "\nprint(y)\n", mode, starcoder.encoder, budget=400)
    assert psm.tokens == [pre] + prefix_ids + [suf] + suffix_ids + [mid]
    spm = build_prompt("x = 1\ny = ", "\nprint(y)\n", with_order(mode, "spm"), starcoder.encoder, budget=400)
    assert spm.tokens == [suf] + suffix_ids + [pre] + prefix_ids + [mid]


@pytest.mark.parametrize("text", ["x = '<fim_prefix>' + '<fim_middle>'", "s = ' <PRE> <SUF> <MID> <EOT>'"])
def test_source_code_cannot_inject_control_tokens(starcoder, codellama, text):
    for engine in (starcoder, codellama):
        special = engine.model.special
        controls = {special.fim_pre, special.fim_suf, special.fim_mid, special.eot, special.bos, special.eos}
        prompt = build_prompt(text, text, engine.mode(), engine.encoder, budget=400)
        fim = engine.mode().fim
        sentinels = [t for t in prompt.tokens if t in controls]
        assert sorted(sentinels) == sorted(t for t in (fim.bos, fim.pre, fim.suf, fim.mid) if t is not None)


def test_models_without_fim_tokens_use_prefix_only(default_model):
    engine = LlamaEngine(str(default_model), n_ctx=256, n_threads=1)
    try:
        mode = engine.mode()
        assert mode.name == "prefix-only"
        assert "no FIM tokens" in mode.reason
        prompt = build_prompt("a = 1\nb = ", "\nc = 3\n", mode, engine.encoder, budget=100)
        assert prompt.tokens == engine.encoder.encode("a = 1\nb = ")
        assert engine.mode(fim="on").name == "prefix-only"
    finally:
        engine.close()


def test_fim_off_setting_forces_prefix_only(starcoder):
    assert starcoder.mode(fim="off").name == "prefix-only"
    assert starcoder.mode(order="spm").name == "fim-spm"


def test_trimmed_prefix_starts_on_an_aligned_line_and_stays_put_while_typing(starcoder):
    lines = [f"value_{i} = compute({i}, {i * 7})\n" for i in range(400)]
    document = "".join(lines)
    mode = starcoder.mode()
    first = build_prompt(document, "", mode, starcoder.encoder, budget=600)
    typed = build_prompt(document + "res", "", mode, starcoder.encoder, budget=600)
    # The window starts at the newline before an aligned line (see lsp_server/fim/blocks.py).
    assert first.prefix.startswith("\n")
    start_line = document[: len(document) - len(first.prefix)].count("\n") + 1
    assert start_line % LINE_QUANTUM == 0
    assert first.n_prefix_tokens <= 600 - 4
    assert typed.prefix.startswith(first.prefix)
    # PSM: [PRE] prefix [SUF] suffix [MID]; all but the last prefix token survive the keystroke.
    stable = first.n_prefix_tokens  # [PRE] plus n_prefix_tokens - 1
    assert typed.tokens[:stable] == first.tokens[:stable]


def test_suffix_takes_at_most_a_quarter_and_is_cut_at_a_line_end(starcoder):
    suffix = "".join(f"line_{i} = {i}\n" for i in range(300))
    prompt = build_prompt("x = ", suffix, starcoder.mode(), starcoder.encoder, budget=400)
    assert 0 < prompt.n_suffix_tokens <= (400 - 4) // 4
    assert prompt.suffix.endswith("\n") and suffix.startswith(prompt.suffix)


class _Found:
    """A retriever that finds the given snippets, best first."""

    def __init__(self, snippets: list[tuple[str, str]]) -> None:
        self.snippets = [Snippet(path, text) for path, text in snippets]

    def gather(self, cursor: CursorSnapshot, window: tuple[int, int]) -> list[Snippet]:
        return self.snippets


def _with_context(engine, snippets, *, context_tokens=500):
    request = CompletionRequest("x = ", "\n", CompletionSettings(), path="app.py", repo="shop",
                                context_tokens=context_tokens)
    return LlamaCompleter(engine, _Found(snippets)).prompt(request, within_budget=False)[0]


def test_repository_context_uses_repo_and_file_separator_tokens(starcoder):
    special = starcoder.model.special
    enc = starcoder.encoder.encode_infilling
    prompt = _with_context(starcoder, [("lib/tax.py", "def vat(x):\n    return x * 0.2\n")])
    expected_context = ([special.fim_rep] + enc("shop\n") + [special.fim_sep] + enc("lib/tax.py\ndef vat(x):\n"
                                                                                    "    return x * 0.2\n")
                        + [special.fim_sep] + enc("app.py\n"))
    # "x = " is healed to "x =": the model generates the space itself.
    expected_hole = [special.fim_pre] + enc("x =") + [special.fim_suf] + enc("\n") + [special.fim_mid]
    assert prompt.tokens == expected_context + expected_hole


def test_repository_context_without_repo_tokens_uses_path_comments(codellama):
    enc = codellama.encoder.encode_infilling
    prompt = _with_context(codellama, [("lib/tax.py", "def vat(x):\n    return x * 0.2\n")])
    context = enc("# lib/tax.py\ndef vat(x):\n    return x * 0.2\n\n") + enc("# app.py\n")
    assert prompt.tokens[: 1 + len(context)] == [1] + context
    assert prompt.tokens[1 + len(context):][:2] == [32007, 32008]


def test_repository_context_never_pushes_out_the_local_window(starcoder):
    local = _with_context(starcoder, [], context_tokens=0)
    big = [(f"m{i}.py", "def f():\n    return 1\n" * 30) for i in range(50)]
    prompt = _with_context(starcoder, big, context_tokens=100_000)
    assert prompt.tokens[-len(local.tokens):] == local.tokens
    assert len(prompt.tokens) < starcoder.n_ctx
