"""The confidence gate's features and verdicts, and the acceptance counts that move its threshold."""

from __future__ import annotations

import json

import pytest

from infill_lsp import gate
from infill_lsp.acceptance import ADAPT_AFTER, GAIN, MOST_MOVE, TARGET_SHARE, AcceptanceStats


def test_only_the_tokens_that_wrote_the_first_line_are_judged():
    # "peri" was healed off the prompt: the engine re-spelled it ("per", "imeter") and went on.
    scores = [(3, -0.1), (10, -0.5), (11, -2.0), (20, -3.0)]  # "per" "imeter_" "(" "\n    pass"
    assert first_line_logprobs(scores, 4, "meter_(\n    pass") == (-0.5, -2.0)
    # A suggestion that starts on the next line is judged by that line.
    assert first_line_logprobs([(1, -0.2), (9, -0.4), (12, -5.0)], 0, "\nreturn x\n") == (-0.2, -0.4)


def first_line_logprobs(scores: list[tuple[int, float]], skip: int, text: str) -> tuple[float, ...]:
    return gate.logprobs_until(gate.token_scores(scores, skip, text), gate.first_line_end(text))


def test_features_say_where_the_cursor_is_and_what_the_line_repeats():
    prefix = "total = price * quantity\nprint(total)\n    tot"
    found = gate.features("al = price * quantity", (-0.5, -1.5), "total = price * quantity\n" + "tot")
    assert found.mid_word and not found.line_start and found.repeats
    assert (found.first, found.mean, found.minimum, found.tokens, found.chars) == (-0.5, -1.0, -1.5, 2, 21)
    fresh = gate.features("return total", (-0.1,), prefix.rsplit("\n", 1)[0] + "\n    ")
    assert fresh.line_start and not fresh.mid_word and not fresh.repeats
    # Only the lines just above count: the same line far up the file does not.
    far = "print(total)\n" + "x = 1\n" * gate.NEARBY_LINES + "    "
    assert not gate.features("print(total)", (-0.1,), far).repeats
    assert gate.features("print(total)", (-0.1,), "print(total)\n" + "x = 1\n" * 3 + "    ").repeats


def test_likelier_suggestions_score_higher_and_nothing_to_judge_is_shown():
    sure = gate.judge("return total", ((6, -0.05), (12, -0.1)), "def f():\n    ", threshold=0.0)
    unsure = gate.judge("return total", ((6, -4.0), (12, -1.9)), "def f():\n    ", threshold=0.0)
    assert sure.confidence > unsure.confidence
    assert gate.judge("", ((1, -0.1),), "x", threshold=0.5) is None
    assert gate.judge("return total", (), "x", threshold=0.5) is None  # an engine without probabilities
    held = gate.judge("return total", ((6, -4.0), (12, -1.9)), "def f():\n    ", threshold=unsure.confidence + 0.01)
    assert not held.show and "below the threshold" in held.explained()


def test_a_shown_suggestion_ends_before_the_first_token_the_model_was_unsure_of():
    scores = ((6, -0.1), (12, -0.2), (14, -4.0), (16, -0.1))  # "return", " total", " +", " 1"
    verdict = gate.judge("return total + 1", scores, "def f():\n    ", threshold=0.0)
    assert verdict.show and verdict.shown == "return total"
    # The first token is kept whatever its score: the whole is judged by it instead.
    assert gate.judge("return", ((6, -4.0),), "def f():\n    ", threshold=0.0).shown == "return"
    assert gate.judge("return total + 1", scores, "def f():\n    ", threshold=1.0).shown == ""


def test_the_users_acceptances_move_the_threshold_within_bounds(tmp_path):
    stats = AcceptanceStats(tmp_path / "acceptance.json")
    for number in range(1, ADAPT_AFTER):
        stats.shown(number, "python", "m.gguf")
    assert stats.threshold("python", "m.gguf", 0.4) == 0.4  # too few to go by
    stats.shown(ADAPT_AFTER, "python", "m.gguf")
    # Nothing accepted: show less.
    assert stats.threshold("python", "m.gguf", 0.4) == pytest.approx(0.4 + min(MOST_MOVE, GAIN * TARGET_SHARE))
    for number in range(1, ADAPT_AFTER + 1):
        assert stats.accepted(number, 10, part=False)
    assert stats.threshold("python", "m.gguf", 0.4) == pytest.approx(0.4 - MOST_MOVE)  # all accepted: show more
    assert stats.threshold("rust", "m.gguf", 0.4) == 0.4  # per language
    assert not stats.accepted(10_000, 5, part=False)  # an id never shown


def test_a_part_then_the_rest_is_one_whole_acceptance_and_counts_survive_a_restart(tmp_path):
    path = tmp_path / "acceptance.json"
    stats = AcceptanceStats(path)
    stats.shown(7, "python", "m.gguf")
    stats.shown(7, "python", "m.gguf")  # typing through it shows the same suggestion
    stats.accepted(7, 6, part=True)
    assert stats.snapshot()[0]["partly"] == 1
    stats.accepted(7, 14, part=False)
    stats.held_back("python", "m.gguf")
    stats.save()
    again, = AcceptanceStats(path).snapshot()
    assert (again["language"], again["model"]) == ("python", "m.gguf")
    assert (again["shown"], again["accepted"], again["partly"], again["acceptedChars"], again["heldBack"]) == (1, 1, 0,
                                                                                                               20, 1)
    # Counts only, never text: the file holds numbers under a language and a model name.
    stored = json.loads(path.read_text())["counts"]["python"]["m.gguf"]
    assert all(isinstance(value, int) for value in stored.values()), stored
    AcceptanceStats(path).clear()
    assert AcceptanceStats(path).snapshot() == []


def test_a_corrupt_counts_file_starts_from_zero(tmp_path):
    path = tmp_path / "acceptance.json"
    path.write_text("{not json")
    stats = AcceptanceStats(path)
    assert stats.snapshot() == []
    stats.shown(1, "python", "m.gguf")
    stats.save()
    assert json.loads(path.read_text())["counts"]["python"]["m.gguf"]["shown"] == 1
