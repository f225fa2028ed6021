"""Fast typing with cancellations through the real server: every request gets exactly one
answer, only cancelled requests are answered with an error, and the last one gets a result.

The timing side (the last answer within 1 s, memory growth under 5%) is the load benchmark,
``python -m bench.load``; its figures are in docs/reliability.md.
"""

from __future__ import annotations

from bench.load import type_fast

REQUEST_CANCELLED = -32800


def test_a_burst_of_keystrokes_is_answered_request_by_request_without_backlog(fake_model):
    # 10 ms a generated piece: a suggestion takes longer than the 20 ms between keystrokes
    run = type_fast(fake_model + "?token_ms=10", requests=150, interval_ms=20, threads=1)

    assert run.unanswered() == []
    assert run.cancelled(), "keystrokes 20 ms apart cancel the requests still running"
    for request_id in run.cancelled():
        assert run.responses[request_id]["error"]["code"] == REQUEST_CANCELLED
        assert request_id in run.cancel_sent, f"request {request_id} was cancelled without being asked to"
    assert "result" in run.responses[max(run.sent)]
