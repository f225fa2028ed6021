"""Half-typed names: does the repository context make the model finish the name being typed?

Real packages are fetched at pinned versions into ``.cache`` (Python from PyPI with ``pip``,
JavaScript from npm with ``npm pack``; never committed). An example is a line that calls a name
(a function, class or method) defined in another file of the same package; the cursor sits
after the first one to three subwords of that name, as a user types it, and the rest of the
line is not written yet. Each example is scored under three prompts with the same model:
``in-file`` (the current file only), ``repo`` (plus the context engine's repository context)
and ``oracle`` (plus the chunk that defines the name).

Metrics: the completed name's exact match (what was typed plus the identifier the model writes
next), the identifier hit (the name appears in the completed line), the mean log-probability of
the rest of the name, and the phantom-name rate: completed names that exist nowhere in the
package or the language's standard library (Python's standard library and builtins; Node's type
declarations for JavaScript). Differences come with paired bootstrap 95% intervals.
``--recall-only`` measures retrieval alone: how often the name's definition is in the context
within the budget, and the gather time.

    python -m bench.partial_names [--examples 80] [--context-tokens 768]
    python -m bench.partial_names --recall-only --examples 400
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.context_quality import Found, PackageIndexes, install_packages
from bench.scoring import log_probs
from bench.stats import bootstrap, percentile
from infill_lsp.context import CursorSnapshot, Snippet, select
from infill_lsp.context.symbols import SUBWORD, subwords
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

PYTHON_PACKAGES = {"rich": "13.9.4", "click": "8.1.8", "attrs": "24.2.0", "httpx": "0.27.2"}
NPM_PACKAGES = {"commander": "12.1.0", "express": "4.21.2"}
CONDITIONS = ("in-file", "repo", "oracle")
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-packages"
NODE_TYPES = ROOT / "clients" / "vscode" / "node_modules" / "@types" / "node"
_CALL = re.compile(r"(?<![\w$])([A-Za-z_$][\w$]*)\s*\(")
_NAME_START = re.compile(r"[A-Za-z_$][\w$]*")


@dataclass(frozen=True)
class Example:
    package: Path
    path: Path
    prefix: str
    suffix: str
    name: str
    typed: str
    definition: str
    """The first line of the name's definition (how recall recognises it in the context)."""


def fetch_packages() -> list[Path]:
    """The pinned packages, fetched once into ``.cache``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    install_packages(CACHE, PYTHON_PACKAGES)
    for name, version in NPM_PACKAGES.items():
        target = CACHE / f"npm-{name}"
        if not target.is_dir():
            subprocess.run(["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(CACHE)],
                           check=True, stdout=subprocess.DEVNULL)
            archive = CACHE / f"{name}-{version}.tgz"
            with tarfile.open(archive) as bundle:
                bundle.extractall(target, filter="data")
            archive.unlink()
    python = [CACHE / ("attr" if name == "attrs" else name) for name in PYTHON_PACKAGES]
    return python + [CACHE / f"npm-{name}" / "package" for name in NPM_PACKAGES]


def typed_part(name: str, words: int) -> str:
    """The name as typed up to the end of its ``words``-th subword (``parse_remote`` of
    ``parse_remote_config``, ``humanReadable`` of ``humanReadableArgName``)."""
    seen, end = 0, 0
    for match in SUBWORD.finditer(name):
        seen += 1
        end = match.end()
        if seen == words:
            break
    return name[:end]


def find_examples(indexes: PackageIndexes, package: Path, limit: int, rng: random.Random) -> list[Example]:
    """Calls of names defined in another file of the package, cut inside the name."""
    index = indexes(package).index
    found = []
    for key in sorted(index.paths()):
        path = package / key
        if path.suffix not in (".py", ".js", ".ts") or "test" in key:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        defined_here = {symbol.name for symbol in index.file(key).symbols}
        offset = 0
        for line in text.splitlines(keepends=True):
            start, offset = offset, offset + len(line)
            stripped = line.strip()
            if not 12 <= len(stripped) <= 110 or stripped.startswith(("import ", "from ", "def ", "class ", "#", "//",
                                                                      "@", "*", "function ", "const {", "require")):
                continue
            for call in _CALL.finditer(line):
                name = call.group(1)
                if name in defined_here or len(subwords(name)) < 2:
                    continue
                elsewhere = [(where, symbol) for where, symbol in index.symbols_matching(name, container=None)
                             if symbol.name == name and where != key]
                if not elsewhere:
                    continue
                where, symbol = elsewhere[0]
                words = rng.randint(1, min(3, len(subwords(name)) - 1))
                typed = typed_part(name, words)
                if len(typed) < 2 or typed == name:
                    continue
                definition = (package / where).read_text(encoding="utf-8", errors="replace").splitlines()[symbol.line]
                found.append(Example(package, path, text[:start + call.start(1) + len(typed)], "\n" + text[offset:],
                                     name, typed, definition.strip()))
                break
    rng.shuffle(found)
    return found[:limit]


def known_names(packages: list[Path]) -> set[str]:
    """Every identifier that exists somewhere: the packages, Python's standard library and
    builtins, and Node's type declarations."""
    import builtins

    names = set(dir(builtins))
    sources = [*packages, Path(sysconfig.get_paths()["stdlib"]), NODE_TYPES]
    for root in sources:
        for path in root.rglob("*"):
            if path.suffix in (".py", ".js", ".ts") and path.is_file():
                names.update(_NAME_START.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


class Runner:
    """Scores examples under each condition with one model."""

    def __init__(self, engine: LlamaEngine, indexes: PackageIndexes, context_tokens: int) -> None:
        self.engine = engine
        self.found = Found()
        self.completer = LlamaCompleter(engine, self.found)
        self.indexes = indexes
        self.context_tokens = context_tokens
        self.settings = CompletionSettings(max_tokens=16, multiline="never", window_tokens=512, prompt_budget_ms=0)

    def source(self, example: Example, condition: str):
        engine = self.indexes(example.package)
        if condition == "repo":
            # The index must not hold the answer: the current file is seen without the line.
            engine.set_buffer(example.path, example.prefix + example.suffix, edited=False)
            return engine.gather
        if condition == "oracle":
            for where, symbol in engine.index.symbols_matching(example.name, container=None):
                if symbol.name == example.name:
                    chunk = engine.index.chunk_of(where, symbol)
                    if chunk is not None:
                        return lambda cursor, window: [Snippet(chunk.path, chunk.text, chunk.start_line)]
        return None

    def run(self, example: Example, condition: str) -> dict:
        source = self.source(example, condition)
        self.found.source = source
        request = CompletionRequest(example.prefix, example.suffix, self.settings,
                                    path=example.path.relative_to(example.package).as_posix(),
                                    repo=example.package.name, document=example.path,
                                    context_tokens=self.context_tokens if source else 0)
        prompt, _mode = self.completer.prompt(request)
        rest = self.engine.encoder.encode_infilling(example.name[len(example.typed):])
        scores = log_probs(self.engine, prompt.tokens, rest)
        generated = self.completer.complete(request).text
        completed = example.typed + (re.match(r"[\w$]*", generated).group(0))
        return {"exact": float(completed == example.name), "hit": float(example.name in example.typed + generated),
                "logprob": sum(scores) / max(1, len(scores)), "completed": completed}


def retrieval_recall(indexes: PackageIndexes, examples: list[Example], context_tokens: int) -> None:
    """No model: how often the name's definition is in the context within the budget."""
    holds, times = 0, []
    for example in examples:
        engine = indexes(example.package)
        engine.set_buffer(example.path, example.prefix + example.suffix, edited=False)
        line = example.prefix.count("\n")
        started = time.perf_counter()
        cursor = CursorSnapshot.of(example.prefix, example.suffix, example.path)
        chosen = select(engine.gather(cursor, (max(0, line - 40), line + 1)),
                        context_tokens, lambda snippet: len(snippet.text) // 4 + 2)  # about 4 characters a token
        times.append((time.perf_counter() - started) * 1000)
        holds += any(example.definition in snippet.text for snippet in chosen)
        engine.close_buffer(example.path)
    print(f"{len(examples)} examples: the typed name's definition is in the context for "
          f"{holds / len(examples):.3f} of them; gather p50 {statistics.median(times):.1f} ms, "
          f"p95 {percentile(times, 0.95):.1f} ms (each at a new position)")


def report(examples: list[Example], results: dict[str, list[dict]], known: set[str], rng: random.Random) -> None:
    """Every example, then those whose name the file does not call anywhere else (its first use)."""
    first_use = [number for number, example in enumerate(examples)
                 if example.name not in example.prefix + example.suffix]
    _report(examples, results, known, rng)
    print(f"\nfirst use in the file ({len(first_use)} of {len(examples)} examples):")
    _report([examples[n] for n in first_use], {condition: [rows[n] for n in first_use]
                                               for condition, rows in results.items()}, known, rng)


def _report(examples: list[Example], results: dict[str, list[dict]], known: set[str], rng: random.Random) -> None:
    print(f"{'condition':10} {'name EM':>8} {'id hit':>7} {'logprob':>8} {'phantom':>8}")
    phantoms = {}
    for condition in CONDITIONS:
        rows = results[condition]
        phantom = [float(r["completed"] != e.typed and r["completed"] not in known) for r, e in zip(rows, examples)]
        phantoms[condition] = phantom
        print(f"{condition:10} {statistics.mean(r['exact'] for r in rows):8.3f} "
              f"{statistics.mean(r['hit'] for r in rows):7.3f} {statistics.mean(r['logprob'] for r in rows):8.3f} "
              f"{statistics.mean(phantom):8.3f}")
    print("differences against in-file (mean [95% paired bootstrap CI]):")
    for condition in CONDITIONS[1:]:
        parts = []
        for key in ("exact", "hit", "logprob"):
            mean, low, high = bootstrap([a[key] - b[key] for a, b in zip(results[condition], results["in-file"])], rng)
            parts.append(f"{key} {mean:+.3f} [{low:+.3f}, {high:+.3f}]{'*' if low > 0 or high < 0 else ' '}")
        print(f"  {condition:7} " + "; ".join(parts))
    print("(* the interval excludes 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=80, help="examples in total, split over the packages")
    parser.add_argument("--context-tokens", type=int, default=768)
    parser.add_argument("--model", default=default_model_path())
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--recall-only", action="store_true", help="no model: retrieval recall and gather time")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    packages = fetch_packages()
    indexes = PackageIndexes()
    per_package = max(1, args.examples // len(packages))
    examples = [e for package in packages for e in find_examples(indexes, package, per_package, rng)]
    counts = {package.name if package.name != "package" else package.parent.name: 0 for package in packages}
    for example in examples:
        counts[example.package.name if example.package.name != "package" else example.package.parent.name] += 1
    print(f"{len(examples)} examples: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    if args.recall_only:
        retrieval_recall(indexes, examples, args.context_tokens)
        return
    engine = LlamaEngine(args.model, n_ctx=2048)
    runner = Runner(engine, indexes, args.context_tokens)
    results: dict[str, list[dict]] = {condition: [] for condition in CONDITIONS}
    started = time.perf_counter()
    for number, example in enumerate(examples, start=1):
        for condition in CONDITIONS:
            results[condition].append(runner.run(example, condition))
        indexes(example.package).close_buffer(example.path)
        if number % 20 == 0:
            print(f"{number}/{len(examples)} examples, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"model {engine.model_name}; context budget {args.context_tokens} tokens; "
          f"{time.perf_counter() - started:.0f} s")
    report(examples, results, known_names(packages), rng)
    engine.close()


if __name__ == "__main__":
    main()
