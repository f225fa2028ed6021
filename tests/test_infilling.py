"""The infilling harness cannot pass silently: the ground-truth middles pass, empty middles fail,
and a candidate that crashes, hangs or eats memory fails without breaking the harness. Tasks are
the HumanEval-infilling and SAFIM files in ``../shared/data`` (not part of this repository; those
tests skip without it), and tasks written here for the sandbox and the judging, which always run."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest

from bench.infilling import DEFAULT_DATA, InfillServer, llama_vim_answers, main
from bench.infilling_tasks import BENCHMARKS, Task, load_tasks, passes
from bench.sandbox import Limits, network_isolation

needs_data = pytest.mark.skipif(not (DEFAULT_DATA / "human-eval-infilling").is_dir(),
                                reason=f"HumanEval-infilling data not found in {DEFAULT_DATA}")
SAMPLE = 40
# Tasks in HumanEval's shape, written here, so that the sandbox, the server's path and the peer
# are tested where the data is absent. Each hole is a whole line with code after it.
OWN_TASKS = [
    Task("own/0", 'def add(a, b):\n    """Sum of a and b."""\n', "", "    return a + b\n",
         test="def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
         entry_point="add"),
    Task("own/1", 'def largest(values):\n    """The largest of a non-empty list."""\n    best = values[0]\n',
         "        if value > best:\n            best = value\n    return best\n", "    for value in values:\n",
         test="def check(candidate):\n    assert candidate([3, 9, 2]) == 9\n", entry_point="largest"),
    Task("own/2", 'def count_vowels(text):\n    """How many vowels the text has."""\n',
         "    return sum(1 for char in text.lower() if char in vowels)\n", '    vowels = "aeiou"\n',
         test="def check(candidate):\n    assert candidate('Infill') == 2\n", entry_point="count_vowels"),
    Task("own/3", 'def mean(numbers):\n    """The mean of a non-empty list."""\n    total = sum(numbers)\n',
         "", "    return total / len(numbers)\n",
         test="def check(candidate):\n    assert candidate([1, 2, 3]) == 2\n", entry_point="mean"),
]
OWN_TASK = OWN_TASKS[0]


@pytest.fixture
def own_data(tmp_path: Path) -> Path:
    """A data folder holding the tasks above as HumanEval-infilling's single-line file."""
    path = tmp_path / BENCHMARKS["humaneval-single-line"]
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for task in OWN_TASKS:
            out.write(json.dumps({"task_id": task.task_id, "prompt": task.prefix, "suffix": task.suffix,
                                  "canonical_solution": task.middle, "test": task.test,
                                  "entry_point": task.entry_point}) + "\n")
    return tmp_path


def share(tasks: list[Task], middles: list[str]) -> float:
    isolation = network_isolation()
    return sum(passes(task, middle, isolation) for task, middle in zip(tasks, middles)) / len(tasks)


@needs_data
def test_the_ground_truth_passes_and_empty_middles_fail():
    tasks = load_tasks(DEFAULT_DATA, "humaneval-single-line", SAMPLE)
    assert len({task.entry_point for task in tasks}) == SAMPLE  # one task per problem first
    assert share(tasks, [task.middle for task in tasks]) >= 0.99
    assert share(tasks, [""] * SAMPLE) <= 0.2


@needs_data
@pytest.mark.parametrize("benchmark", ["safim-block", "safim-control", "safim-api"])
def test_safim_ground_truth_passes_and_a_wrong_middle_fails(benchmark):
    tasks = load_tasks(DEFAULT_DATA, benchmark, 12)
    assert {task.language for task in tasks} == {"python"}
    assert share(tasks, [task.middle for task in tasks]) == 1.0
    assert share(tasks, [""] * len(tasks)) == 0.0
    # A middle that parses but differs: another token in place of the reference's first one.
    assert share(tasks, ["None" + task.middle[task.middle.find("("):] if "(" in task.middle else "None"
                         for task in tasks]) <= 0.25


def test_stdin_programs_are_judged_token_by_token_like_a_contest_checker():
    task = Task("t", "n = int(input())\n", "", "print('YES' if n > 1 else 'NO', 0.5 * n)",
                unit_tests=(("3\n", ("yes 1.5000000",)), ("1", ("NO 0.5",))))
    isolation = network_isolation()
    assert passes(task, task.middle, isolation)
    assert not passes(task, "print('YES', 0.5 * n)", isolation)
    assert not passes(task, "print('YES' if n > 1 else 'NO', 0.5 * n, 1)", isolation)


def with_first(task: Task, statement: str) -> str:
    """The right middle with ``statement`` run first, at its indentation: only the sandbox's
    rules can make such a candidate fail."""
    indent = task.middle[: len(task.middle) - len(task.middle.lstrip())]
    return f"{indent}{statement}\n{task.middle}"


def test_a_crashing_hanging_or_greedy_candidate_fails_and_nothing_else_breaks():
    task = OWN_TASK
    isolation = network_isolation()
    assert passes(task, task.middle, isolation) and not passes(task, "", isolation)
    assert not passes(task, "    return a - b\n", isolation)
    assert passes(task, with_first(task, "pass"), isolation, Limits(timeout_s=5.0))
    for statement in ("import os; os._exit(0)", "raise SystemExit(0)", "import time; time.sleep(30)",
                      "x = bytearray(4 << 30); x[-1] = 1"):
        assert not passes(task, with_first(task, statement), isolation, Limits(timeout_s=2.0)), statement


def test_no_network_inside_the_sandbox():
    task = OWN_TASK
    isolation = network_isolation()
    if not isolation:
        pytest.skip("unshare cannot make a network namespace here")
    # A listener on this machine's loopback: outside a network namespace the candidate reaches it.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        reach = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        assert passes(task, with_first(task, reach), [], Limits(timeout_s=5.0))
        assert not passes(task, with_first(task, reach), isolation, Limits(timeout_s=5.0))


def answers_of(tasks: list[Task], settings: dict | None = None) -> tuple[list[tuple[str, float]], dict[int, int]]:
    server = InfillServer(None, 2, [], settings)
    try:
        answers = [server.complete(task) for task in tasks]
    finally:
        generated = server.close()
    return answers, generated


def test_tasks_go_through_the_real_server_and_a_rule_can_be_switched_off():
    tasks = OWN_TASKS[1:]
    answers, generated = answers_of(tasks)
    assert all(latency > 0 for _text, latency in answers)
    assert any(text.strip() for text, _latency in answers)
    assert sorted(generated) == [1, 2, 3] and all(count > 0 for count in generated.values())
    assert not any("\n" in text for text, _latency in answers)  # single-line holes get one line
    unruled, _generated = answers_of(tasks, {"completion": {"rulesOff": ["singleLine"]}})
    assert any("\n" in text for text, _latency in unruled)


def test_one_run_compares_infill_with_llama_server_task_by_task(capsys, own_data):
    main(["--benchmark", "humaneval-single-line", "--data", str(own_data), "--systems", "infill,llama-vim", "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["system"] for row in result["rows"]] == ["infill", "llama-vim"]
    assert all(row["n"] == 4 and row["mean_generated_tokens"] > 0 for row in result["rows"])
    [paired] = result["paired"]
    low, high = paired["ci95"]
    assert low <= paired["difference"] <= high


def test_the_peer_answers_as_llama_vim_shows_it():
    class Args:
        model, threads, llama_server_arg = None, 2, []

    answers, endpoint = llama_vim_answers(OWN_TASKS, Args())
    # The bundled model has no FIM tokens: llama-server answers prefix-only, and nothing stops it
    # at the end of the line, so what llama.vim would insert runs past the hole's line.
    assert endpoint == "/completion"
    assert all(answer.generated > 0 and answer.latency_ms > 0 for answer in answers)
    assert any("\n" in answer.middle for answer in answers)
