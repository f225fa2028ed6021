"""Does repository context help? A repository-level next-line benchmark, built at run time.

Real third-party packages are installed from PyPI at pinned versions into ``.cache`` (never
committed). An example is a line that calls a function or class defined in another module of
the same package. Each example is scored under four prompts with the same model:

- ``in-file``: the current file only;
- ``repo``: plus repository context from the context engine (the file itself minus the line);
- ``random``: plus random chunks of the package, the same token count as ``repo``;
- ``oracle``: plus the chunk that defines the called name.

Metrics: exact match and edit similarity of the greedy line, identifier hit (the called name
appears), and the mean per-token log-probability of the reference line. Differences against
``in-file`` come with paired bootstrap 95% confidence intervals.

    python -m bench.context_quality [--examples 60] [--context-tokens 768]
    python -m bench.context_quality --report   # summarize the rows of a run so far
    python -m bench.context_quality --recall-only --examples 400   # retrieval only, no model
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.scoring import log_probs
from bench.stats import bootstrap
from infill_lsp.context import CursorSnapshot, Repository, Snippet, select
from infill_lsp.context.snapshot import split_healing
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

PACKAGES = {"rich": "13.9.4", "click": "8.1.8"}
CONDITIONS = ("in-file", "repo", "random", "oracle")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Example:
    package: Path
    path: Path
    prefix: str
    suffix: str
    reference: str
    name: str


def install_packages(target: Path, packages: dict[str, str] = PACKAGES) -> None:
    """Install pinned packages not yet in ``target`` (no dependencies: nothing is imported)."""
    wanted = [f"{name}=={version}" for name, version in packages.items()
              if not (target / name).is_dir() and not (target / name.replace("-", "_")).is_dir()]
    if wanted:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                        *wanted], check=True)


def module_definitions(package: Path) -> dict[str, set[Path]]:
    """Top-level function and class names → the modules defining them."""
    defined: dict[str, set[Path]] = {}
    for path in package.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                 ast.ClassDef)) and not node.name.startswith("_"):
                defined.setdefault(node.name, set()).add(path)
    return defined


def find_examples(package: Path, limit: int, rng: random.Random) -> list[Example]:
    defined = module_definitions(package)
    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        offset = 0
        for line in lines:
            stripped = line.strip()
            start = offset + len(line) - len(line.lstrip())
            offset += len(line)
            if not (12 <= len(stripped) <= 90) or stripped.startswith(("import ", "from ", "def ", "class ", "#", "@")):
                continue
            for call in ast.walk(_parse_line(stripped)):
                if isinstance(call, ast.Call):
                    name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
                    if name in defined and path not in defined[name] and f"def {name}" not in text:
                        found.append(Example(package, path, text[:start], text[start + len(stripped):],
                                             stripped, name))
                        break
    rng.shuffle(found)
    return found[:limit]


def _parse_line(line: str) -> ast.AST:
    try:
        return ast.parse(line.rstrip(":"))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def edit_similarity(a: str, b: str) -> float:
    """1 − Levenshtein distance / longer length."""
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return 1 - previous[-1] / max(len(a), len(b))


class PackageIndexes:
    """One context engine per package, indexed on first use."""

    def __init__(self) -> None:
        self._engines: dict[Path, Repository] = {}

    def __call__(self, package: Path) -> Repository:
        if package not in self._engines:
            engine = Repository()
            engine.add_folder(package)
            engine.index_all()
            self._engines[package] = engine
        return self._engines[package]


class Found:
    """The retriever of the condition being scored: ``source(cursor, window)``, or nothing."""

    def __init__(self) -> None:
        self.source = None

    def gather(self, cursor: CursorSnapshot, window: tuple[int, int]) -> list[Snippet]:
        return self.source(cursor, window) if self.source is not None else []


class Runner:
    """Scores examples under each condition with one model."""

    def __init__(self, engine: LlamaEngine, context_tokens: int, rng: random.Random) -> None:
        self.engine = engine
        self.found = Found()
        self.completer = LlamaCompleter(engine, self.found)
        self.context_tokens = context_tokens
        self.rng = rng
        self.settings = CompletionSettings(max_tokens=48, multiline="never", window_tokens=512,
                                           prompt_budget_ms=0)  # quality of the full prompt, however slow
        self.context_engine = PackageIndexes()

    def snippets(self, example: Example, condition: str, budget_used: list[int]):
        engine = self.context_engine(example.package)
        key = example.path.relative_to(example.package).as_posix()
        if condition == "repo":
            # The index must not hold the answer: the current file is seen without the line.
            engine.set_buffer(example.path, example.prefix + example.suffix, edited=False)
            return engine.gather
        if condition == "oracle":
            chunks = [c for c in engine.index.definitions_of({example.name}) if c.path != key]
            return lambda cursor, window: [Snippet(c.path, c.text, c.start_line) for c in chunks[:1]]
        if condition == "random":
            paths = [p for p in engine.index.paths() if p != key]
            drawn: list[Snippet] | None = None
            mode = self.completer.mode(self.settings)

            def source(cursor, window):
                # Drawn once: the log-probability and the generated line see the same chunks.
                nonlocal drawn
                if drawn is not None:
                    return drawn
                chosen, used = [], 0
                pool = [c for p in self.rng.sample(paths, min(40, len(paths))) for c in engine.index.file(p).chunks]
                self.rng.shuffle(pool)
                for chunk in pool:
                    snippet = Snippet(chunk.path, chunk.text, chunk.start_line)
                    cost = len(self.completer.planner.snippet_tokens(snippet, mode))
                    if used + cost <= budget_used[0]:  # as many tokens as the repository's context took
                        chosen.append(snippet)
                        used += cost
                drawn = chosen
                return chosen
            return source
        return None

    def run(self, example: Example, condition: str, budget_used: list[int]) -> dict:
        source = self.snippets(example, condition, budget_used)
        self.found.source = source
        request = CompletionRequest(example.prefix, example.suffix, self.settings,
                                    path=example.path.relative_to(example.package).as_posix(),
                                    repo=example.package.name, document=example.path,
                                    context_tokens=self.context_tokens if source else 0)
        prompt, _mode = self.completer.prompt(request)
        if condition == "repo":
            budget_used[0] = prompt.n_context_tokens
        # The healed prompt ends before the line's indentation, which the model must write first.
        reference = self.engine.encoder.encode_infilling(split_healing(example.prefix)[1] + example.reference)
        scores = log_probs(self.engine, prompt.tokens, reference)
        generated = self.completer.complete(request).text.strip()
        return {
            "exact": float(generated == example.reference),
            "edit": edit_similarity(generated, example.reference),
            "hit": float(example.name in generated),
            "logprob": sum(scores) / max(1, len(scores)),
            "prompt": len(prompt.tokens),
        }


def retrieval_recall(examples: list[Example], context_tokens: int) -> None:
    """No model: how often the repository context holds a call of the name the line calls."""
    indexes = PackageIndexes()
    holds = 0
    started = time.perf_counter()
    for example in examples:
        engine = indexes(example.package)
        engine.set_buffer(example.path, example.prefix + example.suffix, edited=False)
        line = example.prefix.count("\n")
        cursor = CursorSnapshot.of(example.prefix, example.suffix, example.path)
        chosen = select(engine.gather(cursor, (max(0, line - 40), line + 1)),
                        context_tokens, lambda snippet: len(snippet.text) // 4 + 2)  # about 4 characters a token
        holds += any(example.name + "(" in snippet.text for snippet in chosen)
        engine.close_buffer(example.path)
    elapsed = (time.perf_counter() - started) * 1000 / max(1, len(examples))
    print(f"{len(examples)} examples: a call of the line's name is in the context for {holds / len(examples):.3f} "
          f"of them ({elapsed:.1f} ms per gather)")


def report(results: dict[str, list[dict]], rng: random.Random) -> None:
    """Print the means per condition and the paired differences against ``in-file``."""
    print(f"{'condition':10} {'EM':>6} {'ES':>6} {'id hit':>7} {'logprob/token':>14} {'prompt tokens':>14}")
    for condition in CONDITIONS:
        rows = results[condition]
        mean = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
        print(f"{condition:10} {mean['exact']:6.3f} {mean['edit']:6.3f} {mean['hit']:7.3f} {mean['logprob']:14.3f} "
              f"{mean['prompt']:14.0f}")
    print("differences against in-file (mean [95% paired bootstrap CI]):")
    for condition in CONDITIONS[1:]:
        parts = []
        for key in ("exact", "edit", "hit", "logprob"):
            diffs = [a[key] - b[key] for a, b in zip(results[condition], results["in-file"])]
            mean, low, high = bootstrap(diffs, rng)
            mark = "*" if low > 0 or high < 0 else " "
            parts.append(f"{key} {mean:+.3f} [{low:+.3f}, {high:+.3f}]{mark}")
        print(f"  {condition:7} " + "; ".join(parts))
    print("(* the interval excludes 0)")


def read_rows(path: Path) -> dict[str, list[dict]]:
    """Per-condition results from a rows file written by a (possibly unfinished) run."""
    results: dict[str, list[dict]] = {condition: [] for condition in CONDITIONS}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for condition in CONDITIONS:
            results[condition].append(row[condition])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="examples in total, split over the packages")
    parser.add_argument("--context-tokens", type=int, default=768)
    parser.add_argument("--model", default=default_model_path())
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--rows", type=Path, default=ROOT / ".cache" / "context-quality-rows.jsonl",
                        help="one JSON line per scored example, written as the run goes")
    parser.add_argument("--report", action="store_true", help="only summarize the rows file of an earlier run")
    parser.add_argument("--recall-only", action="store_true",
                        help="no model: only how often the context holds a call of the line's name")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.report:
        report(read_rows(args.rows), rng)
        return
    target = ROOT / ".cache" / "bench-packages"
    install_packages(target)
    examples = [e for name in PACKAGES for e in find_examples(target / name, args.examples // len(PACKAGES), rng)]
    if args.recall_only:
        retrieval_recall(examples, args.context_tokens)
        return
    engine = LlamaEngine(args.model, n_ctx=2048)
    runner = Runner(engine, args.context_tokens, rng)
    results: dict[str, list[dict]] = {condition: [] for condition in CONDITIONS}
    started = time.perf_counter()
    args.rows.parent.mkdir(parents=True, exist_ok=True)
    with args.rows.open("w", encoding="utf-8") as rows:
        for number, example in enumerate(examples, start=1):
            budget_used = [0]
            row = {"path": str(example.path.relative_to(target)), "reference": example.reference}
            for condition in CONDITIONS:  # "repo" runs before "random", which matches its size
                row[condition] = runner.run(example, condition, budget_used)
                results[condition].append(row[condition])
            # Not an open document for the next example's "other open buffers".
            runner.context_engine(example.package).close_buffer(example.path)
            rows.write(json.dumps(row) + "\n")
            rows.flush()
            if number % 10 == 0:
                print(f"{number}/{len(examples)} examples, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"model {engine.model_name}; {len(examples)} examples from "
          f"{', '.join(f'{k}=={v}' for k, v in PACKAGES.items())}; "
          f"context budget {args.context_tokens} tokens; {time.perf_counter() - started:.0f} s")
    report(results, rng)
    engine.close()


if __name__ == "__main__":
    main()
