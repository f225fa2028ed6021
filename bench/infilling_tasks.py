"""The infilling benchmarks' tasks, and whether a middle passes one.

- HumanEval-infilling (single-line, multi-line, random-span): the program ``prefix + middle +
  suffix`` runs the problem's tests and must then print a random token, so that a candidate
  which exits early with status 0 (``os._exit(0)``, ``sys.exit()``) does not pass.
- SAFIM block and control-flow tasks: the program reads each unit test's input on stdin and must
  print one of its expected outputs (compared token by token, as contest checkers do).
- SAFIM API-call tasks have no tests: they are scored by syntax match, the candidate program's
  syntax tree equal to the reference program's (for Python; other languages compare the middle
  without whitespace).

The data are the MIT-licensed files of openai/human-eval-infilling and gonglinyuan/safim, read
from a data folder; they are not part of this repository.
"""

from __future__ import annotations

import ast
import gzip
import json
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.sandbox import Limits, run

BENCHMARKS = {
    "humaneval-single-line": "human-eval-infilling/HumanEval-SingleLineInfilling.jsonl.gz",
    "humaneval-multi-line": "human-eval-infilling/HumanEval-MultiLineInfilling.jsonl.gz",
    "humaneval-random-span": "human-eval-infilling/HumanEval-RandomSpanInfilling.jsonl.gz",
    "safim-block": "safim/block_completion.jsonl.gz",
    "safim-control": "safim/control_completion.jsonl.gz",
    "safim-api": "safim/api_completion.jsonl.gz",
}
HOLE = "{{completion}}"
EXTENSIONS = {"python": "py", "java": "java", "cpp": "cpp", "csharp": "cs"}
EXECUTABLE = ("python",)
"""Languages whose programs this harness runs (SAFIM's others need their compilers and runtimes)."""


@dataclass(frozen=True)
class Task:
    task_id: str
    prefix: str
    suffix: str
    middle: str
    language: str = "python"
    test: str = ""
    """HumanEval: the source of ``check``, called with ``entry_point``."""
    entry_point: str = ""
    unit_tests: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """SAFIM block and control tasks: (stdin, accepted outputs) pairs."""

    @property
    def scoring(self) -> str:
        return "tests" if self.test else "stdio" if self.unit_tests else "syntax"


def _humaneval(row: dict) -> Task:
    return Task(row["task_id"], row["prompt"], row["suffix"], row["canonical_solution"], test=row["test"],
                entry_point=row["entry_point"])


def _safim(row: dict) -> Task:
    prefix, suffix = row["eval_prompt"].split(HOLE)
    tests = tuple((case["input"], tuple(case["output"])) for case in row["unit_tests"])
    return Task(row["task_id"], prefix, suffix, row["ground_truth"].replace("\r\n", "\n"), row["lang"],
                unit_tests=tests)


def load_tasks(data: Path, benchmark: str, limit: int | None, language: str = "python") -> list[Task]:
    """The benchmark's tasks (SAFIM's in ``language``; "all" for every one), the first ``limit``
    of them in file order; HumanEval's with one task per problem first, then the rest."""
    path = data / BENCHMARKS[benchmark]
    if not path.is_file():
        raise SystemExit(f"bench.infilling: {path} is missing; pass --data with the benchmark's files")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    if benchmark.startswith("safim"):
        tasks = [_safim(row) for row in rows if language in ("all", row["lang"])]
    else:
        tasks = [_humaneval(row) for row in rows]
        if limit is not None and limit < len(tasks):
            seen: set[str] = set()
            first = [t for t in tasks if not (t.entry_point in seen or seen.add(t.entry_point))]
            chosen = set(first)
            tasks = first + [t for t in tasks if t not in chosen]
    return tasks[:limit]


DEFAULT_LIMITS = Limits()


def passes(task: Task, middle: str, isolation: list[str], limits: Limits = DEFAULT_LIMITS) -> bool:
    """Whether ``middle`` fills the task's hole correctly (see the module's docstring)."""
    program = task.prefix + middle + task.suffix
    if task.scoring == "syntax":
        return same_syntax(task, program)
    if task.language not in EXECUTABLE:
        raise ValueError(f"no executor for {task.language} here; run --language python")
    with tempfile.TemporaryDirectory(prefix="infilling-") as folder:
        source = Path(folder) / "candidate.py"
        command = [sys.executable, "-I", str(source)]
        if task.scoring == "tests":
            token = secrets.token_hex(8)
            source.write_text(f"{program}\n{task.test}\ncheck({task.entry_point})\nprint({token!r})\n",
                              encoding="utf-8")
            status, output = run(command, Path(folder), isolation, limits)
            return status == 0 and token.encode() in output
        source.write_text(program, encoding="utf-8")
        for stdin, accepted in task.unit_tests:
            status, output = run(command, Path(folder), isolation, limits, stdin)
            words = output.decode("utf-8", "replace").split()
            if status != 0 or not any(same_output(words, expected.split()) for expected in accepted):
                return False
        return True


def same_output(words: list[str], expected: list[str]) -> bool:
    """Token by token, as contest checkers compare: case-insensitive (``YES``/``Yes``), and
    numbers with a real part equal within 1e-6 (relative or absolute)."""
    return len(words) == len(expected) and all(_same_word(a, b) for a, b in zip(words, expected))


def _same_word(word: str, expected: str) -> bool:
    if word.lower() == expected.lower():
        return True
    if "." not in word + expected:
        return False
    try:
        a, b = float(word), float(expected)
    except ValueError:
        return False
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def same_syntax(task: Task, program: str) -> bool:
    """The program parses to the reference program's tree (Python), or the middle equals the
    reference without whitespace (other languages)."""
    if task.language != "python":
        return "".join(program.split()) == "".join((task.prefix + task.middle + task.suffix).split())
    try:
        mine = ast.dump(ast.parse(program))
    except (SyntaxError, ValueError):
        return False
    return mine == ast.dump(ast.parse(task.prefix + task.middle + task.suffix))


def first_line(text: str) -> str:
    return text.strip("\n").split("\n")[0].strip()
