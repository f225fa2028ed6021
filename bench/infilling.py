"""HumanEval-infilling through the real server, scored by running the tests.

Every task goes through ``python -m lsp_server`` as an editor drives it: ``didOpen`` of the
task's prompt and suffix, then ``textDocument/inlineCompletion`` at the hole, with the product's
default settings (printed with the results). The program ``prompt + middle + suffix`` then runs
its tests in a subprocess: a temporary folder, a wall-clock and a CPU limit, a memory limit, and
no network (an empty network namespace when ``unshare`` may make one). A candidate that crashes
or hangs fails; it is never a harness error. Programs run in parallel, one per core.

    python -m bench.infilling --benchmark humaneval-single-line [--limit N] [--model M] [--json]
    python -m bench.infilling --benchmark humaneval-single-line --reference   # must score ≥ 0.99
    python -m bench.infilling --benchmark humaneval-single-line --empty       # must score low

The data are the MIT-licensed files of openai/human-eval-infilling, read from ``--data``
(default ``../shared/data`` beside the checkout); they are not part of this repository.
SAFIM's block, control and API tasks are not run yet.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.jsonrpc_pipe import PipeClient

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
BENCHMARKS = {
    "humaneval-single-line": "human-eval-infilling/HumanEval-SingleLineInfilling.jsonl.gz",
    "humaneval-multi-line": "human-eval-infilling/HumanEval-MultiLineInfilling.jsonl.gz",
    "humaneval-random-span": "human-eval-infilling/HumanEval-RandomSpanInfilling.jsonl.gz",
}
RUN_TIMEOUT_S = 10.0
MEMORY_BYTES = 1 << 30


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str
    suffix: str
    middle: str
    test: str
    entry_point: str


@dataclass
class Outcome:
    task_id: str
    passed: bool
    exact_first_line: bool
    latency_ms: float
    middle: str


def load_tasks(data: Path, benchmark: str, limit: int | None) -> list[Task]:
    """The benchmark's tasks, the first ``limit`` of them in file order (every function first,
    when a limit is smaller than the set: one task per HumanEval problem, then the rest)."""
    path = data / BENCHMARKS[benchmark]
    if not path.is_file():
        raise SystemExit(f"bench.infilling: {path} is missing; pass --data with the human-eval-infilling files")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    tasks = [Task(row["task_id"], row["prompt"], row["suffix"], row["canonical_solution"], row["test"],
                  row["entry_point"]) for row in rows]
    if limit is not None and limit < len(tasks):
        seen: set[str] = set()
        first = [t for t in tasks if not (t.entry_point in seen or seen.add(t.entry_point))]
        chosen = set(first)
        rest = [t for t in tasks if t not in chosen]
        tasks = (first + rest)[:limit]
    return tasks


def _position(text: str) -> tuple[int, int]:
    """The LSP position at the end of ``text`` (UTF-16 columns)."""
    line = text.count("\n")
    last = text[text.rfind("\n") + 1:]
    return line, len(last.encode("utf-16-le")) // 2


class InfillServer:
    """The language server, driven one task at a time as an editor would."""

    def __init__(self, model: str | None, threads: int, extra: list[str]) -> None:
        args = ["--threads", str(threads), *extra] + (["--model", model] if model else [])
        self.client = PipeClient(*args)
        self.settings = self.client.initialize(None)  # the product's defaults: no initializationOptions
        self._next = 0

    def complete(self, task: Task) -> tuple[str, float]:
        self._next += 1
        uri = f"file:///infilling/task_{self._next}.py"
        self.client.open(uri, task.prompt + task.suffix)
        line, character = _position(task.prompt)
        started = time.perf_counter()
        self.client.inline(self._next, uri, line, character)
        answer = self.client.response(self._next)
        elapsed = (time.perf_counter() - started) * 1000
        self.client.send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
        items = (answer.get("result") or {}).get("items") or []
        return (items[0]["insertText"] if items else ""), elapsed

    def close(self) -> None:
        self.client.close()


def network_isolation() -> list[str]:
    """``unshare`` arguments for an empty network namespace, or [] where it is not allowed."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "--net", "--map-root-user", "true"], capture_output=True)
    return ["unshare", "--net", "--map-root-user"] if probe.returncode == 0 else []


def _limits(cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    os.setsid()


def run_program(task: Task, middle: str, isolation: list[str], timeout_s: float = RUN_TIMEOUT_S) -> bool:
    """Whether ``prompt + middle + suffix`` passes the task's tests, in a sandboxed subprocess.
    Passing means printing a random token after the tests, so that a candidate which exits
    early with status 0 (``os._exit(0)``, ``sys.exit()``) does not pass."""
    token = secrets.token_hex(8)
    program = (task.prompt + middle + task.suffix + "\n" + task.test + f"\ncheck({task.entry_point})\n"
               f"print({token!r})\n")
    with tempfile.TemporaryDirectory(prefix="infilling-") as folder:
        source = Path(folder) / "candidate.py"
        source.write_text(program, encoding="utf-8")
        try:
            result = subprocess.run([*isolation, sys.executable, "-I", str(source)], cwd=folder, capture_output=True,
                                    timeout=timeout_s, preexec_fn=lambda: _limits(max(1, int(timeout_s))),
                                    env={"PATH": "/usr/bin:/bin"})
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and token.encode() in result.stdout


def first_line(text: str) -> str:
    return text.strip("\n").split("\n")[0].strip()


def score(tasks: list[Task], middles: list[str], latencies: list[float]) -> list[Outcome]:
    isolation = network_isolation()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        passed = list(pool.map(lambda pair: run_program(pair[0], pair[1], isolation), zip(tasks, middles)))
    return [Outcome(task.task_id, ok, first_line(middle) == first_line(task.middle), latency, middle)
            for task, middle, ok, latency in zip(tasks, middles, passed, latencies)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="humaneval-single-line")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--model", help="GGUF path or catalog name (default: the bundled model)")
    parser.add_argument("--engine-url", help="the model on an inference server (see docs/deploy.md)")
    parser.add_argument("--threads", type=int, default=2)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--reference", action="store_true", help="score the ground-truth middles (must pass)")
    source.add_argument("--empty", action="store_true", help="score empty middles (must mostly fail)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    args = parser.parse_args(argv)
    tasks = load_tasks(args.data, args.benchmark, args.limit)
    started = time.perf_counter()
    if args.reference or args.empty:
        middles = [task.middle if args.reference else "" for task in tasks]
        latencies = [0.0] * len(tasks)
        system = "reference" if args.reference else "empty"
    else:
        extra = ["--engine-url", args.engine_url] if args.engine_url else []
        server = InfillServer(args.model, args.threads, extra)
        try:
            answers = [server.complete(task) for task in tasks]
        finally:
            server.close()
        middles, latencies = [a[0] for a in answers], [a[1] for a in answers]
        system = "infill"
    outcomes = score(tasks, middles, latencies)
    n = len(outcomes)
    result = {"benchmark": args.benchmark, "system": system, "n": n,
              "pass@1": sum(o.passed for o in outcomes) / n if n else 0.0,
              "exact_match": sum(o.exact_first_line for o in outcomes) / n if n else 0.0,
              "mean_latency_ms": statistics.fmean(latencies) if latencies else 0.0,
              "settings": "the server's defaults (no initializationOptions)", "model": args.model or "bundled",
              "seconds": round(time.perf_counter() - started, 1), "sandbox_network": bool(network_isolation())}
    print(f"{args.benchmark} {system}: pass@1 {result['pass@1']:.3f}, first-line exact match "
          f"{result['exact_match']:.3f}, n={n}, mean latency {result['mean_latency_ms']:.0f} ms, "
          f"{result['seconds']} s")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
