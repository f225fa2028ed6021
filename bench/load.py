"""Load: 1,000 completion requests as fast as a fast typist's editor sends them, with cancellations.

One keystroke every ``--interval-ms`` (default 50 ms, 20 characters a second, faster than
anyone types): an incremental ``didChange``, a ``textDocument/inlineCompletion``, and a
``$/cancelRequest`` for the previous request if it is still unanswered, as VS Code and Neovim
do. Reports whether every request was answered, how long after it was sent the *last* request
was answered (a backlog would make it late), how long cancelled requests held on, latencies of
the requests that were not cancelled, and the server's resident memory after warm-up and at
the end.

    python -m bench.load [--requests 1000] [--interval-ms 50] [--model PATH | --tiny]

Exits 1 when a request is unanswered, the last one takes more than 1 s, or memory grows by
5% or more after warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.fuzz_client import FuzzClient
from bench.jsonrpc_pipe import end_position
from bench.stats import percentile
from infill_lsp.engine.models import default_model_path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(sysconfig.get_paths()["stdlib"]) / "_pydecimal.py"
URI = "file:///load/module.py"
WARM_UP = 100
"""Requests before the memory baseline is taken (caches fill, the allocator settles)."""


@dataclass
class LoadRun:
    """What one burst of keystrokes got back from the server."""

    sent: dict[int, float] = field(default_factory=dict)
    """Request id → ``perf_counter()`` when the request was written."""
    cancel_sent: dict[int, float] = field(default_factory=dict)
    """Request id → when its ``$/cancelRequest`` was written."""
    responses: dict = field(default_factory=dict)
    arrived: dict = field(default_factory=dict)
    rss_after_warm_up_kib: int = 0
    rss_at_end_kib: int = 0

    def unanswered(self) -> list[int]:
        return [i for i in self.sent if i not in self.responses]

    def cancelled(self) -> list[int]:
        return [i for i in self.sent if "error" in self.responses.get(i, {})]

    def latencies_ms(self, ids: list[int], since: dict[int, float]) -> list[float]:
        return [(self.arrived[i] - since[i]) * 1000 for i in ids if i in self.arrived and i in since]

    def last_ms(self) -> float:
        return self.latencies_ms([max(self.sent)], self.sent)[0] if max(self.sent) in self.arrived else float("inf")

    def memory_growth(self) -> float:
        """Percent change of resident memory from the end of warm-up to the end."""
        if not self.rss_after_warm_up_kib:
            return float("nan")
        return 100 * (self.rss_at_end_kib - self.rss_after_warm_up_kib) / self.rss_after_warm_up_kib


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def type_fast(model: Path, *, requests: int, interval_ms: float, threads: int) -> LoadRun:
    """Type ``requests`` characters of real code into one document and ask for a completion on each."""
    lines = SOURCE.read_text(encoding="utf-8").split("\n")
    document = "\n".join(lines[:300]) + "\n"
    to_type = "\n".join(lines[300:])[:requests]
    run = LoadRun()
    client = FuzzClient("--model", str(model), "--threads", str(threads))
    try:
        client.send({"id": "init", "method": "initialize", "params": {
            "processId": None, "capabilities": {}, "initializationOptions": {"completion": {"maxTokens": 24}}}})
        assert not client.wait_for(["init"], 120), "initialize was not answered"
        client.send({"method": "initialized", "params": {}})
        client.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": URI, "languageId": "python", "version": 0, "text": document}}})
        client.send({"id": "first", "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": URI}, "position": end_position(document), "context": {"triggerKind": 2}}})
        assert not client.wait_for(["first"], 600), "the first request was not answered"

        pending = None
        next_at = time.perf_counter()
        for index, character in enumerate(to_type, start=1):
            next_at += interval_ms / 1000
            time.sleep(max(0.0, next_at - time.perf_counter()))
            if pending is not None and pending not in client.responses:
                client.send({"method": "$/cancelRequest", "params": {"id": pending}})
                run.cancel_sent[pending] = time.perf_counter()
            at = end_position(document)
            document += character
            client.send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": index},
                "contentChanges": [{"range": {"start": at, "end": at}, "text": character}]}})
            client.send({"id": index, "method": "textDocument/inlineCompletion", "params": {
                "textDocument": {"uri": URI}, "position": end_position(document), "context": {"triggerKind": 2}}})
            run.sent[index] = time.perf_counter()
            pending = index
            if index == WARM_UP:
                run.rss_after_warm_up_kib = rss_kib(client.process.pid)
        client.wait_for(list(run.sent), 30)
        run.rss_at_end_kib = rss_kib(client.process.pid)
    finally:
        client.close()
    run.responses, run.arrived = dict(client.responses), dict(client.arrived)
    return run


def tiny_model(default: Path) -> Path:
    """The tests' random-weight FIM model, written once under .cache/."""
    from bench.tiny_models import write_starcoder_style

    model = ROOT / ".cache" / "models" / "tiny-fim.gguf"
    if not model.exists():
        model.parent.mkdir(parents=True, exist_ok=True)
        write_starcoder_style(default, model)
    return model


def summary(value: list[float]) -> str:
    if not value:
        return "none"
    return f"p50 {statistics.median(value):.0f} ms, p95 {percentile(value, 0.95):.0f} ms, max {max(value):.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=Path(default_model_path()))
    parser.add_argument("--tiny", action="store_true", help="the tests' random-weight FIM model instead")
    args = parser.parse_args()
    model = tiny_model(args.model) if args.tiny else args.model
    run = type_fast(model, requests=args.requests, interval_ms=args.interval_ms, threads=args.threads)

    cancelled = run.cancelled()
    finished = [i for i in run.sent if "result" in run.responses.get(i, {})]
    suggested = sum(1 for i in finished if run.responses[i]["result"].get("items"))
    print(f"model {model.name}; {len(run.sent)} requests, one every {args.interval_ms:.0f} ms; {args.threads} threads")
    print(f"answered {len(run.sent) - len(run.unanswered())}/{len(run.sent)} ({len(cancelled)} cancelled, "
          f"{len(finished)} with a result, {suggested} of them with a suggestion)")
    print(f"result latency: {summary(run.latencies_ms(finished, run.sent))}")
    print(f"cancelled request answered after its cancel: {summary(run.latencies_ms(cancelled, run.cancel_sent))}")
    print(f"last request answered {run.last_ms():.0f} ms after it was sent")
    print(f"memory (RSS) after {WARM_UP} requests {run.rss_after_warm_up_kib / 1024:.1f} MiB, "
          f"at the end {run.rss_at_end_kib / 1024:.1f} MiB ({run.memory_growth():+.1f}%)")
    failed = bool(run.unanswered()) or run.last_ms() > 1000 or not run.memory_growth() < 5
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
