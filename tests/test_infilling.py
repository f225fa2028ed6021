"""The infilling harness cannot pass silently: the ground-truth middles pass, empty middles fail,
and a candidate that crashes, hangs or eats memory fails without breaking the harness. Tasks are
the HumanEval-infilling files in ``../shared/data`` (not part of this repository)."""

from __future__ import annotations

import socket

import pytest

from bench.infilling import DEFAULT_DATA, InfillServer, Task, load_tasks, network_isolation, run_program, score

pytestmark = pytest.mark.skipif(not (DEFAULT_DATA / "human-eval-infilling").is_dir(),
                                reason=f"HumanEval-infilling data not found in {DEFAULT_DATA}")
SAMPLE = 40


def test_the_ground_truth_passes_and_empty_middles_fail():
    tasks = load_tasks(DEFAULT_DATA, "humaneval-single-line", SAMPLE)
    assert len({task.entry_point for task in tasks}) == SAMPLE  # one task per problem first
    reference = score(tasks, [task.middle for task in tasks], [0.0] * SAMPLE)
    assert sum(o.passed for o in reference) / SAMPLE >= 0.99
    empty = score(tasks, [""] * SAMPLE, [0.0] * SAMPLE)
    assert sum(o.passed for o in empty) / SAMPLE <= 0.2


def with_first(task: Task, statement: str) -> str:
    """The right middle with ``statement`` run first, at its indentation: only the sandbox's
    rules can make such a candidate fail."""
    indent = task.middle[: len(task.middle) - len(task.middle.lstrip())]
    return f"{indent}{statement}\n{task.middle}"


def test_a_crashing_hanging_or_greedy_candidate_fails_and_nothing_else_breaks():
    task = load_tasks(DEFAULT_DATA, "humaneval-single-line", 1)[0]
    isolation = network_isolation()
    assert run_program(task, with_first(task, "pass"), isolation, timeout_s=5.0)
    for statement in ("import os; os._exit(0)", "raise SystemExit(0)", "import time; time.sleep(30)",
                      "x = bytearray(4 << 30); x[-1] = 1"):
        assert not run_program(task, with_first(task, statement), isolation, timeout_s=2.0), statement


def test_no_network_inside_the_sandbox():
    task = load_tasks(DEFAULT_DATA, "humaneval-single-line", 1)[0]
    isolation = network_isolation()
    if not isolation:
        pytest.skip("unshare cannot make a network namespace here")
    # A listener on this machine's loopback: outside a network namespace the candidate reaches it.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        reach = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        assert run_program(task, with_first(task, reach), [], timeout_s=5.0)
        assert not run_program(task, with_first(task, reach), isolation, timeout_s=5.0)


def test_tasks_go_through_the_real_server():
    tasks = load_tasks(DEFAULT_DATA, "humaneval-single-line", 3)
    server = InfillServer(None, 2, [])
    try:
        answers = [server.complete(task) for task in tasks]
    finally:
        server.close()
    assert all(latency > 0 for _text, latency in answers)
    assert any(text.strip() for text, _latency in answers)
