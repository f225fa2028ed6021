"""Typing in a PSM prompt (``<PRE> prefix <SUF> suffix <MID>``): each keystroke evaluates only the
tokens it typed, the first tokens of the suffix and the middle marker, in their place before
the cached suffix, whose rest moves to follow them; a pause evaluates the suffix exactly again.
On the tests' FIM-layout model (random weights: the mechanics, not the text), in the unified KV
layout a PSM model takes."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from bench.lsp_client import URI, change, complete, eventually, log_lines, open_document, session
from infill_lsp.engine.generation import GenerationStats
from infill_lsp.engine.kv_cache import STALE_LIMIT
from infill_lsp.engine.kv_reuse import FRESH_BLOCK_START
from infill_lsp.engine.llama_engine import LlamaEngine

PREFIX = ("import os\nimport sys\n\n\ndef total(values):\n    total = 0\n    for v in values:\n"
          "        total += v.count\n")
SUFFIX = "\n    return total\n\n\ndef other(values):\n    return [v * 2 for v in values]\n"


@pytest.fixture(scope="module")
def engine(starcoder_model):
    engine = LlamaEngine(str(starcoder_model), n_ctx=1024, n_threads=2)
    assert engine.mode().fim.order == "psm" and engine.context.inserts
    yield engine
    engine.close()


def layout(engine, prefix: str) -> list[int]:
    fim, encode = engine.mode().fim, engine.encoder.encode_infilling
    return [fim.pre] + encode(prefix) + [fim.suf] + encode(SUFFIX) + [fim.mid]


def evaluate(engine, tokens: list[int]) -> tuple[GenerationStats, np.ndarray]:
    stats = GenerationStats()
    engine.evaluate_prompt(tokens, threading.Event(), stats)
    return stats, engine.context.last_logits()


def exact_logits(engine, tokens: list[int]) -> np.ndarray:
    engine.reset_cache()
    return evaluate(engine, tokens)[1]


def test_a_keystroke_evaluates_what_it_typed_and_the_middle_marker(engine):
    engine.reset_cache()
    evaluate(engine, layout(engine, PREFIX))
    suffix_block = len(engine.encoder.encode_infilling(SUFFIX)) + 1  # and <SUF>
    previous = layout(engine, PREFIX)
    for typed in ("    i", "    if", "    if v", "    if v:"):
        tokens = layout(engine, PREFIX + typed)
        common = next(i for i, (a, b) in enumerate(zip(previous, tokens)) if a != b)
        typed_tokens = len(tokens) - suffix_block - 1 - common
        stats, _ = evaluate(engine, tokens)
        # the typed tokens, the start of the suffix block, and <MID>
        assert stats.evaluated_tokens == typed_tokens + FRESH_BLOCK_START + 1, typed
        assert stats.shifted_tokens == suffix_block - FRESH_BLOCK_START
        previous = tokens


def test_typing_then_deleting_it_again_gives_the_exact_distribution(engine):
    """Positions and masks are right: after a round trip the shifted suffix was computed
    against the same text, so only the rounding of moving it remains."""
    tokens = layout(engine, PREFIX)
    exact = exact_logits(engine, tokens)
    for typed in ("    if", "    if v", "    if v:", "    if v", "    if", ""):
        stats, logits = evaluate(engine, layout(engine, PREFIX + typed))
        assert stats.shifted_tokens, typed
    assert np.abs(logits - exact).max() < 0.02 * np.abs(exact).max()


def test_a_refresh_makes_the_shifted_suffix_exact(engine):
    engine.reset_cache()
    evaluate(engine, layout(engine, PREFIX))
    tokens = layout(engine, PREFIX + "    if v")
    stats, _ = evaluate(engine, tokens)
    assert stats.extra.get("stale")
    refreshed = engine.refresh(threading.Event())
    assert refreshed.stop_reason == "refreshed" and refreshed.evaluated_tokens > 1
    again, logits = evaluate(engine, tokens)
    assert again.evaluated_tokens == 1 and not again.extra.get("stale")
    assert np.abs(logits - exact_logits(engine, tokens)).max() < 1e-3
    assert engine.refresh(threading.Event()).stop_reason == "exact"  # nothing left to do


def test_a_refresh_stopped_by_a_keystroke_keeps_the_shifted_suffix(engine):
    """The exact copy is evaluated beside the shifted one: stopped, it is dropped, and the next
    keystroke still evaluates only what it typed."""

    class StopSoon:
        calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > 3

    engine.reset_cache()
    evaluate(engine, layout(engine, PREFIX))
    evaluate(engine, layout(engine, PREFIX + "    if"))
    stop = StopSoon()
    assert engine.refresh(stop).stop_reason == "cancelled" and stop.calls > 3
    stats, _ = evaluate(engine, layout(engine, PREFIX + "    if v"))
    assert stats.shifted_tokens and stats.evaluated_tokens <= 3 + FRESH_BLOCK_START


def test_past_the_staleness_limit_the_suffix_is_evaluated_again(engine):
    engine.reset_cache()
    evaluate(engine, layout(engine, PREFIX))
    typed, line, exact_after, shifted = "", "    result = compute(values, count, total, other, more, and_more)", None, 0
    for character in line:
        typed += character
        stats, _ = evaluate(engine, layout(engine, PREFIX + typed))
        if not stats.shifted_tokens:
            exact_after = stats
            break
        shifted += 1
        assert stats.extra["stale"] <= STALE_LIMIT
    assert shifted >= STALE_LIMIT // 3, "the keystrokes before the limit reuse the suffix"
    assert exact_after is not None and exact_after.evaluated_tokens > STALE_LIMIT // 2


async def test_the_server_refreshes_the_suffix_when_the_user_pauses(starcoder_model, tmp_path):
    """Through the real server: keystrokes in a PSM prompt reuse the suffix, and the pause after
    them makes it exact in the background."""
    log = tmp_path / "server.log"
    async with session(starcoder_model, args=("--log-file", str(log)),
                       options={"completion": {"maxTokens": 4, "speculate": False}}) as client:
        open_document(client, PREFIX + "    \n" + SUFFIX)
        await complete(client, URI, 8, 4)
        for offset, character in enumerate("if v"):
            change(client, URI, offset + 2, 8, 4 + offset, character)
            await complete(client, URI, 8, 5 + offset)
        await eventually(lambda: any("stop=refreshed" in line for line in log_lines(log, "refresh uri=")))
    keystrokes = [line for line in log_lines(log, "completion id=")[1:] if " prompt=" in line]  # model answers
    # Each evaluates the typed tokens, the start of the suffix and <MID> (or only <MID>: healing
    # gave the same prompt again), never the whole suffix.
    counts = [int(re.search(r" evaluated=(\d+) ", line).group(1)) for line in keystrokes]
    assert keystrokes and all(count <= 3 + FRESH_BLOCK_START for count in counts), keystrokes
    assert any(re.search(r" shifted=[1-9]", line) for line in keystrokes), keystrokes
