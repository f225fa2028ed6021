"""The prompt time budget: a cold prompt is shortened to what evaluates in time, then grows.

Runs on the fake engine and on the real tiny FIM model; the prefill speed is fixed through the completer's seam so the
token allowance (budget × speed) does not depend on the machine.
"""

from __future__ import annotations

import threading

import pytest

from infill_lsp.context import CursorSnapshot, Snippet
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.fake_engine import FakeEngine
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

SPEED = 1000.0
"""Tokens per second the completer is told the engine evaluates."""
BUDGET_MS = 100
ALLOWANCE = SPEED * BUDGET_MS / 1000

FILE_BEFORE = "".join(f"def scale_{n}(value):\n    return value * {n} + {n * 7}\n\n\n" for n in range(60))
TYPED = "def total(values):\n    return sum(scale_3(v) for v in val"
SNIPPETS = [Snippet(f"pkg/mod_{n}.py", f"def helper_{n}(items):\n    return [item + {n} for item in items]\n" * 3)
            for n in range(4)]


class FixedSnippets:
    """A retriever that finds the same snippets wherever the cursor is (until told otherwise)."""

    def __init__(self, snippets: list[Snippet]) -> None:
        self.snippets = snippets

    def gather(self, cursor: CursorSnapshot, window: tuple[int, int]) -> list[Snippet]:
        return self.snippets


def completer_at(engine: LlamaEngine, speed: float) -> LlamaCompleter:
    return LlamaCompleter(engine, FixedSnippets(SNIPPETS), prefill_speed=lambda: speed)


@pytest.fixture(scope="module", params=["fake", pytest.param("tiny FIM model", marks=pytest.mark.real)])
def engine(request):
    """The planner's behaviour on any engine that reports its cache honestly: the fake engine's
    simulated one (the fast tier), and llama.cpp's."""
    if request.param == "fake":
        yield FakeEngine("fake:?fim=psm")
        return
    yield request.getfixturevalue("llama_engine")


@pytest.fixture(scope="module")
def llama_engine(starcoder_model):
    """For what only llama.cpp's cache does: the suffix moved in place, a sequence per prompt."""
    engine = LlamaEngine(str(starcoder_model), n_ctx=4096, n_threads=2)
    yield engine
    engine.close()


def request_at(prefix: str) -> CompletionRequest:
    settings = CompletionSettings(window_tokens=1024, max_tokens=8, prompt_budget_ms=BUDGET_MS, multiline="never",
                                  fim_order="spm")  # typing appends: the cached prompt stays a prefix
    return CompletionRequest(prefix, "\n\nprint(total([1, 2]))\n", settings, path="app.py", repo="shop",
                             context_tokens=1024)


def uncached(engine: LlamaEngine, tokens: list[int]) -> int:
    return len(tokens) - engine.reusable(tokens)


def test_a_cold_prompt_is_shortened_then_grows_to_the_full_prompt_in_the_background(engine):
    engine.reset_cache()
    completer = completer_at(engine, SPEED)
    cold = request_at(FILE_BEFORE + TYPED)
    full, _mode = completer.prompt(cold, within_budget=False)
    assert not full.shortened and uncached(engine, full.tokens) > 4 * ALLOWANCE

    shortened, _mode = completer.prompt(cold)
    assert shortened.shortened and uncached(engine, shortened.tokens) <= ALLOWANCE
    assert shortened.prefix.endswith("for v in val") and len(shortened.prefix) < len(full.prefix)
    assert "helper_0" not in shortened.prefix and len(shortened.tokens) < len(full.tokens) - sum(
        len(completer.planner.snippet_tokens(s, _mode)) for s in SNIPPETS), "no context is cached yet"
    result = completer.complete(cold)
    assert result.shortened and result.stats.evaluated_tokens <= ALLOWANCE

    warmed = completer.warm(cold, threading.Event())  # what the server runs once the user pauses
    assert warmed.stop_reason == "warmed" and warmed.prompt_tokens == len(full.tokens)

    typed_on = request_at(FILE_BEFORE + TYPED + "ue")
    after, _mode = completer.prompt(typed_on)
    assert not after.shortened and uncached(engine, after.tokens) <= 4
    result = completer.complete(typed_on)
    assert not result.shortened and result.stats.evaluated_tokens <= 4


def test_chunks_already_cached_are_kept_and_the_window_shrinks_to_fit(engine):
    engine.reset_cache()
    completer = completer_at(engine, SPEED)
    # The context is cached (an earlier prompt evaluated it), then the user jumps far up the file.
    completer.warm(request_at(FILE_BEFORE + TYPED), threading.Event())
    elsewhere = request_at(FILE_BEFORE[: len(FILE_BEFORE) // 3] + "def jump(values):\n    return ")
    prompt, mode = completer.prompt(elsewhere)
    assert prompt.shortened and uncached(engine, prompt.tokens) <= ALLOWANCE
    context = [t for s in SNIPPETS for t in completer.planner.snippet_tokens(s, mode)]
    assert any(prompt.tokens[i:i + len(context)] == context for i in range(len(prompt.tokens) - len(context) + 1))


def test_a_zero_budget_always_evaluates_the_full_prompt(engine):
    engine.reset_cache()
    completer = completer_at(engine, 1.0)
    request = request_at(FILE_BEFORE + TYPED)
    unlimited = CompletionRequest(request.prefix, request.suffix,
                                  CompletionSettings(window_tokens=1024, prompt_budget_ms=0), path="app.py",
                                  context_tokens=1024)
    prompt, _mode = completer.prompt(unlimited)
    assert not prompt.shortened and prompt.tokens == completer.prompt(unlimited, within_budget=False)[0].tokens


def test_the_measured_speed_is_positive_and_leaves_an_empty_cache(starcoder_model):
    fresh = LlamaEngine(str(starcoder_model), n_ctx=1024, n_threads=1)  # no speed measured yet: the probe runs
    try:
        speed = fresh.prefill_tokens_per_s()
        assert speed > 0 and all(not sequence.tokens for sequence in fresh.kv.sequences)
        assert fresh.prefill_tokens_per_s() == speed, "measured once, not probed again"
    finally:
        fresh.close()


@pytest.mark.parametrize("order", ["spm", "psm"])
def test_keystrokes_in_a_shortened_prompt_evaluate_only_what_was_typed(llama_engine, order):
    # So slow an llama_engine that even the smallest window is over the allowance: every prompt stays
    # shortened, and only its staying put from keystroke to keystroke keeps typing cheap.
    llama_engine.reset_cache()
    completer = completer_at(llama_engine, 100.0)
    settings = CompletionSettings(window_tokens=1024, max_tokens=4, prompt_budget_ms=BUDGET_MS, multiline="never",
                                  fim_order=order)
    suffix = "\n\nprint(total([1, 2]))\n"
    # The block being typed in (16 lines) holds more than the smallest window's 64 tokens.
    before = FILE_BEFORE + "".join(f"LIMIT_{n} = compute_limit({n}, scale={n * 3})\n" for n in range(12))
    evaluated = []
    for typed in range(1, len(TYPED) + 1):
        request = CompletionRequest(before + TYPED[:typed], suffix, settings, path="app.py", context_tokens=1024)
        result = completer.complete(request)
        assert result.shortened
        evaluated.append(result.stats.evaluated_tokens)
    # After the cold first prompt, a keystroke costs the tokens it typed (and, in PSM, the
    # suffix that follows them).
    suffix_tokens = len(llama_engine.encoder.encode_infilling(suffix)) if order == "psm" else 0
    assert max(evaluated[1:]) <= 4 + suffix_tokens, evaluated


def grown_then_typed_on(engine: LlamaEngine, typed: str) -> tuple[LlamaCompleter, CompletionRequest]:
    """A cold file's full prompt grown whole, then ``typed`` after it while the index gathers
    other chunks than the ones that prompt holds."""
    engine.reset_cache()
    completer = completer_at(engine, SPEED)
    first = request_at(FILE_BEFORE + TYPED)
    completer.complete(first)
    assert completer.warm(first, threading.Event()).stop_reason == "warmed"
    later_snippets = [Snippet(f"pkg/other_{n}.py", f"def other_{n}(items):\n    return len(items) * {n}\n" * 3)
                      for n in range(4)]
    completer.planner.retriever.snippets = later_snippets
    return completer, CompletionRequest(first.prefix + typed, first.suffix, first.settings, path="app.py", repo="shop",
                                        context_tokens=1024)


def test_once_the_full_prompt_is_cached_a_different_gather_does_not_shorten_it_again(engine):
    # The index grows while a cold file is typed in: the chunks gathered after the full prompt
    # grew are not the ones it holds. The cached context stays, with the whole window, instead
    # of the prompt being shortened (without context) and grown again.
    completer, typed_on = grown_then_typed_on(engine, "ue")
    prompt, _mode = completer.prompt(typed_on)
    assert not prompt.shortened and uncached(engine, prompt.tokens) <= 4
    assert "helper_0" in engine.detokenize(prompt.tokens)


def test_a_full_prompt_grown_before_the_index_had_any_context_does_not_keep_the_context_out(engine):
    # A fast server grows the full prompt before the repository is indexed: it holds no context.
    # Once the index gathers some, the prompt is shortened and grown again with it, rather than
    # the context-less prompt staying because it is cached.
    engine.reset_cache()
    completer = completer_at(engine, SPEED)
    completer.planner.retriever.snippets = []
    first = request_at(FILE_BEFORE + TYPED)
    completer.complete(first)
    assert completer.warm(first, threading.Event()).stop_reason == "warmed"
    completer.planner.retriever.snippets = SNIPPETS
    typed_on = request_at(FILE_BEFORE + TYPED + "ue")
    short, _mode = completer.prompt(typed_on)
    assert short.shortened
    assert completer.warm(typed_on, threading.Event()).stop_reason == "warmed"
    whole, _mode = completer.prompt(typed_on)
    assert not whole.shortened and "helper_0" in engine.detokenize(whole.tokens)


def test_after_much_typing_the_grown_context_stays_and_only_the_text_typed_since_grows(llama_engine):
    # More was typed after the full prompt grew than one keystroke may evaluate, and the index
    # gathers other chunks now: what grows next is the grown context with the new window, not a
    # new full prompt from its first token.
    typed = "ues)\n" + "".join(f"    total_{n} = scale_{n}(values[{n}]) + {n * 3}\n" for n in range(12))
    completer, typed_on = grown_then_typed_on(llama_engine, typed)

    def text(tokens: list[int]) -> str:
        return llama_engine.detokenize(tokens)

    short, _mode = completer.prompt(typed_on)
    assert short.shortened and "other_0" not in text(short.tokens)
    completer.complete(typed_on)
    grown = completer.warm(typed_on, threading.Event())
    typed_tokens = len(llama_engine.encoder.encode_infilling(typed))
    assert grown.stop_reason == "warmed" and grown.evaluated_tokens <= typed_tokens + 16, grown.summary()
    whole, _mode = completer.prompt(typed_on)
    assert not whole.shortened and "helper_0" in text(whole.tokens) and uncached(llama_engine, whole.tokens) <= 4


def test_the_full_prompt_grows_at_the_latest_keystroke_not_at_the_one_that_started_it(engine):
    # The user typed many lines while the full prompt grew. The growth's next gap takes the
    # newest keystroke's prompt: once it is whole, that keystroke's prompt is the whole one,
    # not one still missing everything typed since the growth started.
    engine.reset_cache()
    completer = completer_at(engine, SPEED)
    cold = request_at(FILE_BEFORE + TYPED)
    assert completer.prompt(cold)[0].shortened
    typed = "ues)\n" + "".join(f"    total_{n} = scale_{n}(values[{n}]) + {n * 3}\n" for n in range(12))
    latest = request_at(FILE_BEFORE + TYPED + typed)
    assert len(engine.encoder.encode_infilling(typed)) > ALLOWANCE
    assert completer.complete(latest).shortened
    assert completer.warm(latest, threading.Event()).stop_reason == "warmed"
    whole, _mode = completer.prompt(latest)
    assert not whole.shortened and uncached(engine, whole.tokens) <= 4
    assert "helper_0" in engine.detokenize(whole.tokens)


def test_typing_on_keeps_the_window_start_so_the_cached_prompt_is_only_extended(llama_engine):
    # Cut to the window budget at each keystroke, the window's start would move on by a block
    # every few lines typed, and the cache would have to shift or evaluate the window again.
    llama_engine.reset_cache()
    completer = completer_at(llama_engine, 1e9)  # so fast an llama_engine that no prompt is shortened
    completer.complete(request_at(FILE_BEFORE + TYPED))
    typed = "ues)\n" + "".join(f"    total_{n} = {n}\n" for n in range(24))
    later = completer.complete(request_at(FILE_BEFORE + TYPED + typed))
    assert not later.shortened and later.stats.shifted_tokens == 0
    assert later.stats.evaluated_tokens <= len(llama_engine.encoder.encode_infilling(typed)) + 8, later.stats.summary()
