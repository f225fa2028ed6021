"""The llama.cpp engine: KV-cache reuse, cancellation between tokens, stop tokens."""

from __future__ import annotations

import logging
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.scoring import log_probs
from infill_lsp.engine.boundary import run_to_end
from infill_lsp.engine.completer import GROWTH_CHUNK, CompletionRequest, LlamaCompleter
from infill_lsp.engine.fake_engine import FakeEngine
from infill_lsp.engine.generation import Cancelled, GenerationParams, GenerationStats
from infill_lsp.engine.kv_reuse import common_prefix_length
from infill_lsp.engine.llama_engine import PROMPT_CHUNK, LlamaEngine
from infill_lsp.engine.native import ModelLoadError, NativeModel
from infill_lsp.engine.native_backend import flash_attention_for
from infill_lsp.settings import CompletionSettings


@pytest.fixture(scope="module")
def engine(starcoder_model):
    engine = LlamaEngine(str(starcoder_model), n_ctx=1024, n_threads=1)
    yield engine
    engine.close()


@pytest.fixture(params=["fake", pytest.param("llama.cpp", marks=pytest.mark.real)])
def any_engine(request):
    """For what the Engine protocol promises of every engine: the fake one keeps it too."""
    if request.param == "fake":
        return FakeEngine()
    return request.getfixturevalue("engine")


REPEATING = "def add(a, b):\n    return a + b\n" * 10
"""A prompt every engine goes on from (the fake engine copies what followed before)."""


def generated(engine, tokens, params, cancel=None) -> GenerationStats:
    """What a whole generation cost."""
    return run_to_end(engine, tokens, params, cancel)[1]


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0


def test_second_prompt_reuses_the_cache_and_evaluates_only_new_tokens(any_engine):
    engine = any_engine
    engine.reset_cache()
    prompt = engine.encoder.encode("def add(a, b):\n    return a + b\n" * 10)
    first = generated(engine, prompt, GenerationParams(max_tokens=4))
    assert (first.cached_tokens, first.evaluated_tokens) == (0, len(prompt))
    typed = prompt + engine.encoder.encode(" x")
    second = generated(engine, typed, GenerationParams(max_tokens=4))
    assert second.cached_tokens == len(prompt)
    assert second.evaluated_tokens == len(typed) - len(prompt)


def test_identical_prompt_evaluates_one_token(any_engine):
    engine = any_engine
    prompt = engine.encoder.encode("import os\nimport sys\n")
    generated(engine, prompt, GenerationParams(max_tokens=2))
    again = generated(engine, prompt, GenerationParams(max_tokens=2))
    assert again.evaluated_tokens == 1


def test_cancel_between_tokens_stops_within_one_token(any_engine):
    engine = any_engine
    cancel = threading.Event()
    seen = []

    stats = GenerationStats()
    for piece in engine.generate(engine.encoder.encode(REPEATING), GenerationParams(max_tokens=200), cancel, stats):
        seen.append(piece)
        if len(seen) == 5:
            cancel.set()
    assert stats.stop_reason == "cancelled"
    assert stats.generated_tokens <= 6


def test_cancel_during_prompt_evaluation_keeps_what_was_evaluated(any_engine):
    engine = any_engine
    engine.reset_cache()
    cancel = threading.Event()
    cancel.set()
    prompt = engine.encoder.encode("value = 1\n" * 100)
    with pytest.raises(Cancelled) as stopped:
        generated(engine, prompt, GenerationParams(max_tokens=5), cancel)
    assert stopped.value.stats.evaluated_tokens == 0
    resumed = generated(engine, prompt, GenerationParams(max_tokens=1))
    assert resumed.evaluated_tokens == len(prompt)


def test_a_prompt_cancelled_before_it_starts_leaves_the_cache_as_it_was(engine):
    # A background evaluation preempted at once must not cut back what the user's prompt cached.
    engine.reset_cache()
    typed = engine.encoder.encode("value = 1\n" * 50)
    generated(engine, typed, GenerationParams(max_tokens=1))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        engine.evaluate_prompt(engine.encoder.encode("other = 2\n" * 50), cancel, GenerationStats(), background=True)
    assert engine.kv.cached_prefix(typed) == len(typed)


def test_closing_the_stream_stops_generation_immediately(any_engine):
    engine = any_engine
    stats = GenerationStats()
    stream = engine.generate(engine.encoder.encode(REPEATING), GenerationParams(max_tokens=50), threading.Event(),
                             stats)
    next(stream)
    stream.close()
    assert (stats.generated_tokens, stats.stop_reason) == (1, "complete")


def test_fim_stop_tokens_end_generation(engine):
    stats = generated(engine, engine.encoder.encode("z = "),
                      GenerationParams(max_tokens=50, stop_tokens=frozenset(range(engine.model.n_vocab))))
    assert (stats.generated_tokens, stats.stop_reason) == (1, "end_of_text")


def test_prompt_longer_than_context_is_refused(any_engine):
    engine = any_engine
    with pytest.raises(ValueError, match="does not fit"):
        engine.evaluate_prompt([1] * (engine.n_ctx + 1), threading.Event(), GenerationStats())


def test_completer_respects_window_and_returns_stats(engine):
    request = CompletionRequest("a = 1\n" * 2000, "", CompletionSettings(window_tokens=256, max_tokens=8))
    prompt, _mode = LlamaCompleter(engine).prompt(request)
    assert len(prompt.tokens) <= 256
    result = LlamaCompleter(engine).complete(request)
    assert result.stats is not None and result.stats.prompt_tokens == len(prompt.tokens)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), (b"not a model at all", "not a GGUF"), (b"GGUF\x03\x00\x00\x00garbage", "could not load")],
)
def test_bad_model_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        NativeModel(str(path))


def test_log_probs_are_normalized_and_rank_the_argmax_first(engine):
    import math

    prompt = engine.encoder.encode("def add(a, b):\n    return")
    engine.evaluate_prompt(prompt, threading.Event(), GenerationStats())
    logits = engine.context.last_logits()
    best, worst = int(logits.argmax()), int(logits.argmin())
    top, bottom = log_probs(engine, prompt, [best])[0], log_probs(engine, prompt, [worst])[0]
    assert bottom < top <= 0
    shift = float(logits.max())
    total = sum(math.exp(float(x) - shift) for x in logits)
    # log_probs evaluates the prompt in a batch of another shape, and the CPU kernels then round
    # differently in the last digits; a normalization error would be far larger than this.
    assert math.isclose(top, -math.log(total), abs_tol=1e-3)


def test_prompt_after_indentation_or_a_space_ends_before_the_whitespace(engine):
    completer = LlamaCompleter(engine)
    settings = CompletionSettings()
    indented, _ = completer.prompt(CompletionRequest("def f():\n    ", "", settings))
    assert indented.prefix == "def f():"
    spaced, _ = completer.prompt(CompletionRequest("x = ", "", settings))
    assert spaced.prefix == "x ="


def test_suggestion_never_starts_with_whitespace_the_cursor_already_has(default_model):
    engine = LlamaEngine(str(default_model), n_ctx=512, n_threads=1)
    try:
        request = CompletionRequest("def double(x):\n    ", "\n", CompletionSettings(multiline="never"))
        result = LlamaCompleter(engine).complete(request)
        assert result.text and not result.text[0].isspace()
    finally:
        engine.close()


def test_generation_begins_with_the_forced_whitespace(any_engine):
    engine = any_engine
    # After "return x" the model would rather end the function; healing makes it write the
    # indentation of the next statement first, whatever its own preference.
    text, _stats = run_to_end(engine, engine.encoder.encode("def f(x):\n    y = x\n    return y"),
                              GenerationParams(max_tokens=6, forced_prefix="\n        "))
    assert text.startswith("\n        ")


def test_a_healed_blank_indented_line_is_completed_as_a_statement_of_its_block(default_model):
    engine = LlamaEngine(str(default_model), n_ctx=512, n_threads=1)
    try:
        prefix = "def area(width, height):\n    if width < 0:\n        raise ValueError(width)\n    "
        request = CompletionRequest(prefix, "\n", CompletionSettings(multiline="never"))
        result = LlamaCompleter(engine).complete(request)
        # Without healing the prompt ends in a lone newline and the model starts top-level code.
        assert result.text and not result.text.startswith(("def ", "class ", "#", "import "))
    finally:
        engine.close()


def test_plan_moves_brings_a_later_cached_run_forward():
    from infill_lsp.engine.kv_reuse import Move, plan_moves

    cached = [1] + list(range(100, 180)) + list(range(200, 300))
    prompt = [1] + list(range(200, 300)) + [7, 8]  # the first run scrolled out, two tokens typed
    moves, reusable = plan_moves(cached, prompt, keep=1)
    assert moves == [Move(source=81, target=1, length=100)]
    assert reusable == 101
    assert plan_moves(cached, [1] + list(range(200, 230)) + [7], keep=1) == ([], 1)  # too short to shift


@given(st.lists(st.integers(0, 3), max_size=300), st.lists(st.integers(0, 3), max_size=300), st.integers(0, 20))
def test_planned_moves_bring_only_matching_runs_in_order(cached, prompt, keep):
    from infill_lsp.engine.kv_reuse import plan_moves

    keep = min(keep, len(cached), len(prompt))
    cached[:keep] = prompt[:keep]  # the common prefix, as the engine passes it
    moves, reusable = plan_moves(cached, prompt, keep, min_run=8)
    head = keep
    for move in moves:  # each a run of the cache, moved left, in order, equal to the prompt there
        assert move.length >= 8 and move.target >= head and move.source > move.target
        assert cached[move.source:move.source + move.length] == prompt[move.target:move.target + move.length]
        head = move.target + move.length
    assert head <= reusable < max(len(prompt), keep + 1)  # the last prompt token is decoded again


def test_a_scrolled_out_block_is_shifted_not_evaluated_again(engine):
    import numpy as np

    head = engine.encoder.encode("# inventory.py: weights and values\n")
    block = engine.encoder.encode_infilling("".join(f"value_{i} = compute({i})\n" for i in range(30)))
    rest = engine.encoder.encode_infilling("".join(f"total += weight_{i} * value_{i}\n" for i in range(30)))
    engine.reset_cache()
    engine.evaluate_prompt(head + block + rest, threading.Event(), GenerationStats())
    typed = head + rest + engine.encoder.encode_infilling("total")
    stats = GenerationStats()
    engine.evaluate_prompt(typed, threading.Event(), stats)
    assert stats.shifted_tokens == len(rest)
    assert stats.evaluated_tokens == len(typed) - len(head) - len(rest)
    shifted = engine.context.last_logits()
    engine.reset_cache()
    engine.evaluate_prompt(typed, threading.Event(), GenerationStats())
    fresh = engine.context.last_logits()
    # Shifted keys are re-rotated, not recomputed, and still carry what they saw of the dropped
    # block: close to a fresh evaluation, not equal (llama-server's cache reuse makes the same trade).
    assert int(shifted.argmax()) == int(fresh.argmax())
    assert float(np.corrcoef(shifted, fresh)[0, 1]) > 0.9


class CancelAfter:
    """A cancellation event that reads as set from its ``calls``-th check on."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def is_set(self) -> bool:
        self.calls -= 1
        return self.calls < 0


def test_background_evaluation_stops_inside_a_decode_and_leaves_the_cache_consistent(engine, starcoder_model,
                                                                                     caplog):
    prompt = engine.encoder.encode("def add(a, b):\n    return a + b\n" * 30)[:300]
    engine.reset_cache()
    engine.evaluate_prompt(prompt[:100], threading.Event(), GenerationStats())
    stats = GenerationStats()
    # Checks: one before the first chunk, then llama.cpp polls between the graph's operations.
    with caplog.at_level(logging.DEBUG, logger="llama.cpp"), pytest.raises(Cancelled) as stopped:
        engine.evaluate_prompt(prompt, CancelAfter(5), stats, background=True)
    assert stopped.value.stats.stop_reason == "cancelled" and stopped.value.stats.evaluated_tokens == 0
    # llama.cpp reports the stop as a failed compute: an expected stop is no error in the log.
    assert any("failed" in record.getMessage() for record in caplog.records)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING], caplog.text
    assert engine.kv.cached_prefix(prompt) == 100, "the aborted chunk is dropped, what came before stays"
    resumed = GenerationStats()
    engine.evaluate_prompt(prompt, threading.Event(), resumed)
    assert resumed.cached_tokens == 100 and resumed.evaluated_tokens == 200
    fresh = LlamaEngine(str(starcoder_model), n_ctx=1024, n_threads=1)
    try:
        fresh.evaluate_prompt(prompt[:100], threading.Event(), GenerationStats())  # same chunks, no abort
        fresh.evaluate_prompt(prompt, threading.Event(), GenerationStats())
        assert abs(fresh.context.last_logits() - engine.context.last_logits()).max() < 1e-4
    finally:
        fresh.close()


def test_background_chunks_grow_with_the_time_a_gap_lasts_and_never_risk_more_than_it_got_done(engine,
                                                                                                   monkeypatch):
    prompt = engine.encoder.encode("def add(a, b):\n    return a + b\n" * 60)[:900]
    sizes: list[int] = []
    decode = engine.context.decode
    monkeypatch.setattr(engine.context, "decode",
                        lambda sequence, tokens, abort=None: sizes.append(len(tokens)) or decode(sequence, tokens,
                                                                                                 abort))
    engine.reset_cache()
    engine.evaluate_prompt(prompt, threading.Event(), GenerationStats(), GROWTH_CHUNK, background=True)
    assert sizes[0] == GROWTH_CHUNK and max(sizes) == PROMPT_CHUNK and sum(sizes) == len(prompt)
    assert sizes[:-1] == sorted(sizes[:-1])
    for index, size in enumerate(sizes[1:], start=1):  # a chunk stopped now loses no more than came before it
        assert size <= sum(sizes[:index])
    sizes.clear()
    engine.reset_cache()
    engine.evaluate_prompt(prompt, threading.Event(), GenerationStats(), GROWTH_CHUNK)
    assert set(sizes[:-1]) == {GROWTH_CHUNK}, ("a real request's chunks keep their size: cancellation is checked "
                                               "between them")


def test_flash_attention_is_off_on_the_cpu_unless_asked_for():
    # llama.cpp's own "auto" turns it on for the CPU, where the one-token decode of a keystroke
    # is slower with it (docs/benchmarks.md).
    assert flash_attention_for("auto", n_gpu_layers=0) == "off"
    assert flash_attention_for("auto", n_gpu_layers=99) == "auto"
    assert flash_attention_for("on", n_gpu_layers=0) == "on"
    with pytest.raises(ValueError, match="one of on, off, auto"):
        flash_attention_for("fast", n_gpu_layers=0)


def test_the_engine_applies_its_flash_attention_choice(starcoder_model):
    on_cpu = LlamaEngine(str(starcoder_model), n_ctx=256, n_threads=1, n_gpu_layers=0)
    forced = LlamaEngine(str(starcoder_model), n_ctx=256, n_threads=1, n_gpu_layers=0, flash_attention="on")
    try:
        assert (on_cpu.flash_attention, forced.flash_attention) == ("off", "on")
        prompt = on_cpu.encoder.encode("def add(a, b):\n    return a + b\n")
        for engine in (on_cpu, forced):  # both kernels load and run this model
            engine.evaluate_prompt(prompt, threading.Event(), GenerationStats())
        plain, flash = on_cpu.context.last_logits(), forced.context.last_logits()
        assert abs(plain - flash).max() < 0.01 * abs(plain).max()  # the same attention, rounded differently
    finally:
        on_cpu.close()
        forced.close()


def test_coming_back_to_a_document_finds_its_prompt_in_host_memory(engine):
    engine.reset_cache()
    documents = [engine.encoder.encode("".join(f"def {name}_{n}(x):\n    return x + {n}\n" for n in range(30)))
                 for name in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta")]
    for tokens in documents:  # seven documents, one after the other
        generated(engine, tokens, GenerationParams(max_tokens=3))
    # The last two stay in the cache's two sequences, the four before them in host memory.
    assert len(engine.kv.saved) == 4 and engine.kv.saved.bytes() > 0
    typed = engine.encoder.encode_infilling("def beta_40(")
    back = generated(engine, documents[1] + typed, GenerationParams(max_tokens=3))
    assert back.extra.get("restored") == len(documents[1])
    assert back.evaluated_tokens <= len(typed) + 1
    # The oldest of seven went when the fifth copy was made: it is evaluated again, whole.
    first = generated(engine, documents[0], GenerationParams(max_tokens=3))
    assert "restored" not in first.extra and first.evaluated_tokens >= len(documents[0]) - 1


def _two_large_prompts(engine) -> list[list[int]]:
    return [engine.encoder.encode("".join(f"def {name}_{n}(x):\n    return x + {n}\n" for n in range(45)))
            for name in ("alpha", "beta")]


def test_in_a_shared_pool_a_prompt_too_large_to_sit_beside_another_moves_that_one_to_host_memory(starcoder_model):
    engine = LlamaEngine(str(starcoder_model), n_ctx=1024, n_threads=1, split_sequences=False)
    try:
        large = _two_large_prompts(engine)
        assert not engine.context.split and 2 * len(large[0]) > engine.context.n_cells  # no room side by side
        for tokens in large:
            generated(engine, tokens, GenerationParams(max_tokens=2))
        assert len(engine.kv.saved) == 1
        back = generated(engine, large[0], GenerationParams(max_tokens=2))
        assert back.extra.get("restored") == len(large[0]) and back.evaluated_tokens <= 1
    finally:
        engine.close()


def test_on_the_cpu_each_sequence_has_a_stream_of_its_own_and_two_large_prompts_stay(codellama_model, engine):
    """Except for a PSM model, which takes the shared pool where typing can go before the suffix."""
    assert not engine.context.split and engine.mode().fim.order == "psm"
    spm = LlamaEngine(str(codellama_model), n_ctx=1024, n_threads=1)
    try:
        large = _two_large_prompts(spm)
        assert spm.context.split and spm.context.n_cells == 2 * spm.n_ctx
        for tokens in large:
            generated(spm, tokens, GenerationParams(max_tokens=2))
        back = generated(spm, large[0], GenerationParams(max_tokens=2))
        assert "restored" not in back.extra and back.evaluated_tokens <= 1
        assert len(spm.kv.saved) == 0
    finally:
        spm.close()


def test_two_documents_edited_in_turn_both_stay_in_the_cache(engine):
    engine.reset_cache()
    left, right = (engine.encoder.encode(f"def {name}_{n}(x):\n    return x * {n}\n" * 1) * 30
                   for n, name in enumerate(("left", "right")))
    for tokens in (left, right):
        generated(engine, tokens, GenerationParams(max_tokens=2))
    for turn in range(3):  # back and forth, typing a little each time: nothing is copied or evaluated again
        for name, tokens in (("left", left), ("right", right)):
            typed = tokens + engine.encoder.encode_infilling(f"{name}{turn}")
            stats = generated(engine, typed, GenerationParams(max_tokens=2))
            assert "restored" not in stats.extra
            assert stats.evaluated_tokens <= len(typed) - len(tokens) + 4, (name, turn, stats.summary())
    assert len(engine.kv.saved) == 0


def test_the_reuse_a_budget_counts_on_is_the_reuse_the_request_gets(engine):
    # A short prompt goes on in its own sequence; the other one, a grown prompt, holds more of
    # it (further on, where a shift would bring it), but a request would not use that one.
    engine.reset_cache()
    typed = engine.encoder.encode_infilling("value")
    head = engine.encoder.encode("def short(x):\n    return x\n" * 3)
    window = engine.encoder.encode_infilling("".join(f"total_{n} = scale({n})\n" for n in range(30)))
    generated(engine, head, GenerationParams(max_tokens=1))
    grown = engine.encoder.encode("import os\n" * 200) + head + window
    engine.evaluate_prompt(grown, threading.Event(), GenerationStats(), 64, background=True)
    prompt = head + window + typed
    expected = engine.kv.reusable(prompt)
    stats = generated(engine, prompt, GenerationParams(max_tokens=1))
    assert stats.cached_tokens == expected < len(head) + len(window), stats.summary()


def test_background_work_leaves_the_keystrokes_prompt_whole(engine):
    engine.reset_cache()
    short = engine.encoder.encode("def short(x):\n    return x\n" * 8)
    full = engine.encoder.encode("import os\n" * 200) + short
    generated(engine, short, GenerationParams(max_tokens=2))
    grown = GenerationStats()
    engine.evaluate_prompt(full, threading.Event(), grown, 32, background=True)
    assert grown.cached_tokens == 0 and grown.evaluated_tokens == len(full)
    typed = short + engine.encoder.encode_infilling("value")
    keystroke = generated(engine, typed, GenerationParams(max_tokens=2))
    assert keystroke.evaluated_tokens <= len(typed) - len(short) + 4, keystroke.summary()
    # ... and the full prompt is still whole beside it for the keystroke that asks for it.
    assert engine.kv.reusable(full + engine.encoder.encode_infilling("value")) >= len(full) - 1
    assert len(engine.kv.saved) == 0, "nothing was copied to host memory"


def test_prompts_too_large_for_the_host_memory_limit_are_not_copied(engine, monkeypatch):
    engine.reset_cache()
    documents = [engine.encoder.encode(f"def {name}(x):\n    return x\n" * 60) for name in ("left", "right", "third")]
    copies = []
    save = engine.context.save_sequence
    monkeypatch.setattr(engine.context, "save_sequence", lambda sequence: copies.append(1) or save(sequence))
    limit, engine.kv.saved.most_bytes = engine.kv.saved.most_bytes, 1024
    try:
        for tokens in documents:
            generated(engine, tokens, GenerationParams(max_tokens=1))
        assert len(engine.kv.saved) == 0
        assert copies == [], "the copy is refused before it is made, not evicted after"
    finally:
        engine.kv.saved.most_bytes = limit


def test_the_spare_cells_of_a_context_within_the_trained_size_raise_no_warning(default_model, caplog):
    with caplog.at_level(logging.DEBUG, logger="llama.cpp"):
        # n_ctx = the trained 8,192, plus spare cells
        engine = LlamaEngine(str(default_model), n_threads=1, split_sequences=False)
    try:
        assert engine.context.n_cells > engine.n_ctx == engine.model.n_ctx_train
        assert any("training context overflow" in record.getMessage() for record in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "overflow" in r.getMessage()]
    finally:
        engine.close()
