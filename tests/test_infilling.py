"""The infilling harness cannot pass silently: the ground-truth middles pass, empty middles fail,
and a candidate that crashes, hangs or eats memory fails without breaking the harness. Tasks are
the HumanEval-infilling files in ``../shared/data`` (not part of this repository)."""

from __future__ import annotations

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


def test_a_crashing_hanging_or_greedy_candidate_fails_and_nothing_else_breaks():
    task = load_tasks(DEFAULT_DATA, "humaneval-single-line", 1)[0]
    isolation = network_isolation()
    for middle in ("    import os; os._exit(0)\n", "    while True: pass\n", "    x = bytearray(4 << 30)\n",
                   "    raise SystemExit(0)\n"):
        hostile = Task(task.task_id, task.prompt, task.suffix, middle, task.test, task.entry_point)
        assert not run_program(hostile, middle, isolation, timeout_s=2.0), middle
    assert run_program(task, task.middle, isolation, timeout_s=5.0)


def test_no_network_inside_the_sandbox():
    task = load_tasks(DEFAULT_DATA, "humaneval-single-line", 1)[0]
    isolation = network_isolation()
    if not isolation:
        pytest.skip("unshare cannot make a network namespace here")
    reach = ("    import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)\n" + task.middle)
    assert not run_program(task, reach, isolation, timeout_s=5.0)


def test_tasks_go_through_the_real_server():
    tasks = load_tasks(DEFAULT_DATA, "humaneval-single-line", 3)
    server = InfillServer(None, 2, [])
    try:
        answers = [server.complete(task) for task in tasks]
    finally:
        server.close()
    assert all(latency > 0 for _text, latency in answers)
    assert any(text.strip() for text, _latency in answers)
