"""HumanEval-infilling and SAFIM through the real server, scored by running the programs.

Every task goes through ``python -m infill_lsp`` as an editor drives it: ``didOpen`` of the
task's prefix and suffix, then ``textDocument/inlineCompletion`` at the hole, with the product's
default settings (no initializationOptions). The middle is then judged (see
``bench/infilling_tasks.py``) in a sandbox (``bench/sandbox.py``), programs in parallel, one per
core. In the same run, other systems answer the same tasks, and each is compared with Infill
task by task (the difference in pass@1 with its paired bootstrap 95% interval):

- ``llama-vim``: llama-server as llama.vim calls it, its raw answer cut by llama.vim's rules;
- ``--ablate``: Infill with each post-processing rule switched off in turn (``rulesOff``).

    python -m bench.infilling --benchmark humaneval-single-line [--limit N] [--model M] [--json]
    python -m bench.infilling --benchmark humaneval-single-line --systems infill,llama-vim --ablate
    python -m bench.infilling --benchmark safim-block --language python
    python -m bench.infilling --benchmark humaneval-single-line --reference   # must score ≥ 0.99
    python -m bench.infilling --benchmark humaneval-single-line --empty       # must score low
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.infilling_tasks import BENCHMARKS, EXECUTABLE, EXTENSIONS, Task, first_line, load_tasks, passes
from bench.jsonrpc_pipe import PipeClient, end_position
from bench.sandbox import network_isolation
from bench.stats import bootstrap
from infill_lsp.fim.postprocess import RULE_NAMES

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Answer:
    middle: str
    latency_ms: float
    generated: int


@dataclass
class Row:
    """One system's answers to every task, judged."""

    system: str
    answers: list[Answer]
    passed: list[bool]
    exact: list[bool]
    seconds: float
    detail: str = ""
    """How the system was run, where its name does not say (the peer's endpoint)."""

    def summary(self) -> dict:
        n = len(self.passed)
        detail = {"detail": self.detail} if self.detail else {}
        return {"system": self.system, **detail, "n": n, "pass@1": sum(self.passed) / n,
                "exact_match": sum(self.exact) / n,
                "mean_latency_ms": statistics.fmean(a.latency_ms for a in self.answers),
                "mean_generated_tokens": statistics.fmean(a.generated for a in self.answers),
                "seconds": round(self.seconds, 1)}


class InfillServer:
    """The language server, driven one task at a time as an editor would."""

    def __init__(self, model: str | None, threads: int, extra: list[str], settings: dict | None = None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="infilling-server-")
        self.log = Path(self._folder.name) / "server.log"
        args = ["--threads", str(threads), "--log-file", str(self.log), *extra] + (["--model", model] if model else [])
        self.client = PipeClient(*args)
        self.settings = self.client.initialize(settings)  # None: the product's defaults
        self._next = 0

    def complete(self, task: Task) -> tuple[str, float]:
        self._next += 1
        uri = f"file:///infilling/task_{self._next}.{EXTENSIONS[task.language]}"
        self.client.open(uri, task.prefix + task.suffix, task.language)
        at = end_position(task.prefix)
        started = time.perf_counter()
        self.client.inline(self._next, uri, at["line"], at["character"])
        answer = self.client.response(self._next)
        elapsed = (time.perf_counter() - started) * 1000
        self.client.send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
        items = (answer.get("result") or {}).get("items") or []
        return (items[0]["insertText"] if items else ""), elapsed

    def close(self) -> dict[int, int]:
        """Shut the server down; the tokens it generated per request, from its log."""
        try:
            self.client.close()
            log = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        finally:
            self._folder.cleanup()
        return {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"completion id=(\d+) .*? generated=(\d+)", log)}


def infill_answers(tasks: list[Task], args: argparse.Namespace, settings: dict | None) -> list[Answer]:
    extra = ["--engine-url", args.engine_url] if args.engine_url else []
    server = InfillServer(args.model, args.threads, extra, settings)
    try:
        answered = [server.complete(task) for task in tasks]
    finally:
        generated = server.close()
    return [Answer(text, ms, generated.get(number, 0)) for number, (text, ms) in enumerate(answered, start=1)]


def llama_vim_answers(tasks: list[Task], args: argparse.Namespace) -> tuple[list[Answer], str]:
    """The peer's answers, and the endpoint it used (``/infill``, or ``/completion`` without FIM)."""
    from bench.llama_vim import LlamaVimPeer
    from infill_lsp.catalog import resolve_model
    from infill_lsp.engine.models import default_model_path

    model = resolve_model(args.model) or default_model_path()
    with tempfile.TemporaryDirectory(prefix="infilling-peer-") as folder:
        peer = LlamaVimPeer(Path(model), args.threads, Path(folder) / "llama-server.log", args.llama_server_arg)
        try:
            return [Answer(*peer.complete(task.prefix, task.suffix)) for task in tasks], peer.endpoint
        finally:
            peer.close()


def judge(system: str, tasks: list[Task], answers: list[Answer], started: float, detail: str = "") -> Row:
    isolation = network_isolation()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        passed = list(pool.map(lambda pair: passes(pair[0], pair[1].middle, isolation), zip(tasks, answers)))
    exact = [first_line(a.middle) == first_line(t.middle) for t, a in zip(tasks, answers)]
    return Row(system, answers, passed, exact, time.perf_counter() - started, detail)


def systems_to_run(args: argparse.Namespace) -> list[tuple[str, dict | None]]:
    """(name, initializationOptions) for each Infill row, or the peer's name with None."""
    if args.reference or args.empty:
        return [("reference" if args.reference else "empty", None)]
    rows = [(name, None) for name in args.systems.split(",")]
    if args.ablate:
        rows += [(f"infill without {rule}", {"completion": {"rulesOff": [rule]}}) for rule in RULE_NAMES]
    return rows


def run_system(name: str, settings: dict | None, tasks: list[Task], args: argparse.Namespace) -> Row:
    started, detail = time.perf_counter(), ""
    if name in ("reference", "empty"):
        answers = [Answer(task.middle if name == "reference" else "", 0.0, 0) for task in tasks]
    elif name == "llama-vim":
        answers, detail = llama_vim_answers(tasks, args)
    elif name == "infill" or name.startswith("infill without"):
        answers = infill_answers(tasks, args, settings)
    else:
        raise SystemExit(f"bench.infilling: unknown system {name!r} (infill, llama-vim)")
    return judge(name, tasks, answers, started, detail)


def compare(rows: list[Row], seed: int = 0) -> list[dict]:
    """Each later row against the first, task by task: the pass@1 difference (later − first)."""
    base = rows[0]
    out = []
    for row in rows[1:]:
        differences = [float(b) - float(a) for a, b in zip(base.passed, row.passed)]
        mean, low, high = bootstrap(differences, random.Random(seed), resamples=10_000)
        out.append({"system": row.system, "against": base.system, "difference": mean, "ci95": [low, high]})
    return out


def write_answers(path: Path, tasks: list[Task], rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            for task, answer, passed in zip(tasks, row.answers, row.passed):
                out.write(json.dumps({"system": row.system, "task_id": task.task_id, "passed": passed,
                                      "middle": answer.middle, "latency_ms": round(answer.latency_ms, 1),
                                      "generated": answer.generated}) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="humaneval-single-line")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--language", default="python", help="SAFIM tasks in this language (python runs here)")
    parser.add_argument("--model", help="GGUF path or catalog name (default: the bundled model)")
    parser.add_argument("--engine-url", help="the model on an inference server (see docs/deploy.md)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--systems", default="infill",
                        help="comma-separated: infill, llama-vim (the first is the base)")
    parser.add_argument("--ablate", action="store_true", help="add Infill with each post-processing rule off in turn")
    parser.add_argument("--llama-server-arg", action="append", default=[],
                        help="one more argument for the llama-vim row's llama-server; repeat it "
                             "(--llama-server-arg=-ngl --llama-server-arg=99)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--reference", action="store_true", help="score the ground-truth middles (must pass)")
    source.add_argument("--empty", action="store_true", help="score empty middles (must mostly fail)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    parser.add_argument("--answers", type=Path, help="write every answer, judged, to this JSON-lines file")
    args = parser.parse_args(argv)
    tasks = load_tasks(args.data, args.benchmark, args.limit, args.language)
    if not tasks:
        raise SystemExit(f"bench.infilling: no {args.benchmark} tasks in {args.language!r}")
    unrunnable = {task.language for task in tasks if task.scoring != "syntax" and task.language not in EXECUTABLE}
    if unrunnable:
        raise SystemExit(f"bench.infilling: no executor for {', '.join(sorted(unrunnable))} here; "
                         f"run --language {' or '.join(EXECUTABLE)}")
    rows = []
    for name, settings in systems_to_run(args):
        rows.append(run_system(name, settings, tasks, args))
        s = rows[-1].summary()
        label = f"{name} {rows[-1].detail}".strip()
        print(f"{args.benchmark} {label}: pass@1 {s['pass@1']:.3f}, first-line exact match {s['exact_match']:.3f}, "
              f"n={s['n']}, mean latency {s['mean_latency_ms']:.0f} ms, {s['mean_generated_tokens']:.1f} tokens "
              f"generated, {s['seconds']} s", flush=True)
    if args.answers:
        write_answers(args.answers, tasks, rows)
    paired = compare(rows) if len(rows) > 1 else []
    for entry in paired:
        low, high = entry["ci95"]
        print(f"  {entry['system']} − {entry['against']}: {entry['difference']:+.3f} pass@1 "
              f"[{low:+.3f}, {high:+.3f}] (paired bootstrap 95%)")
    if args.json:
        head = rows[0].summary()
        print(json.dumps({"benchmark": args.benchmark, "language": args.language, **head,
                          "rows": [row.summary() for row in rows], "paired": paired,
                          "settings": "the server's defaults (no initializationOptions)",
                          "model": args.model or "bundled", "sandbox_network": bool(network_isolation())}))


if __name__ == "__main__":
    main()
