"""Fit the confidence gate's logistic model on replay data (``lsp_server/gate.py`` ships the result).

The data: places in files of CPython's standard library (``--files``; never the packages
``bench.usefulness`` reports on), retyped by the user of ``bench/typing_user.py`` at every
cursor position of every line, each position answered by the very pipeline the server runs
(``LlamaCompleter``, the bundled model, the replay's settings). Each suggestion is cut where the
gate cuts it (before its first token below ``--unsure``) and labelled by whether the user would
accept at least a word of that part. The fit is L2-regularised logistic regression by
Newton's method; then the threshold that keeps at least ``--keep`` of the characters the user
would accept, and the share of wrong suggestions it holds back, are printed, on this data and on
a held-out half.

    python -m bench.gate_fit [--files argparse.py,textwrap.py,...] [--places 6] [--lines 6] [--unsure -1.5]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sysconfig
import time
from pathlib import Path

import numpy as np

from bench.typing_user import places, take
from infill_lsp import gate
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
TRAINING_FILES = ("argparse.py", "textwrap.py", "configparser.py", "shutil.py", "tarfile.py", "logging/__init__.py")
SETTINGS = CompletionSettings(max_tokens=24, multiline="never", prompt_budget_ms=0)
"""The replay's settings; the gate is on, so the engine keeps each token's log-probability
(the completer itself never holds a suggestion back)."""


def collect(completer: LlamaCompleter, files: list[Path], count: int, lines: int, rng: random.Random) -> list[dict]:
    """Every suggestion at every cursor position of the places, as rows :func:`labelled` reads:
    the end of the prefix (as far up as the gate looks), the suggestion, its token scores, and
    what the user was about to type."""
    rows = []
    for path in files:
        for place in places(path, count, lines, rng):
            typed = place.before
            for line in place.lines:
                indent = line[: len(line) - len(line.lstrip())]
                typed_line = indent
                # Up to the end of the line: a suggestion shown there, before Enter, is wrong.
                for position in range(len(indent), len(line) + 1):
                    prefix = typed + typed_line
                    request = CompletionRequest(prefix, "\n" + place.after, SETTINGS, path=path.name)
                    result = completer.complete(request)
                    if result.text.strip() and result.scores:
                        rows.append({"file": path.name, "tail": gate.tail(prefix), "text": result.text,
                                     "scores": result.scores, "coming": line[position:]})
                    typed_line += line[position:position + 1]
                typed += line + "\n"
    return rows


def labelled(rows: list[dict], unsure: float) -> tuple[np.ndarray, np.ndarray]:
    """The gate's inputs of each row's part it would show (``gate.sure_end`` at ``unsure``), and
    the characters the user would accept of that part."""
    x, chars = [], []
    for row in rows:
        scores = tuple(map(tuple, row["scores"]))
        part = row["text"][: gate.sure_end(row["text"], scores, unsure)]
        if not part.strip():
            continue  # the gate never shows it
        x.append(gate.features(part, gate.logprobs_until(scores, gate.first_line_end(part)), row["tail"]).vector())
        chars.append(take(part, row["coming"]).chars)
    return np.array(x), np.array(chars, dtype=float)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> np.ndarray:
    """Logistic regression weights (intercept first) by Newton's method."""
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.zeros(design.shape[1])
    penalty = l2 * np.eye(len(weights))
    penalty[0, 0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(design @ weights, -30, 30)))
        gradient = design.T @ (p - y) + penalty @ weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return weights


def scores(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(weights[0] + x @ weights[1:], -30, 30)))


def operating_point(score: np.ndarray, chars: np.ndarray, keep: float) -> float:
    """The highest threshold that still shows ``keep`` of the accepted characters."""
    best = 0.0
    for threshold in np.unique(np.round(score, 3)):
        if chars[score >= threshold].sum() >= keep * chars.sum():
            best = max(best, float(threshold))
    return best


def report(name: str, score: np.ndarray, chars: np.ndarray, threshold: float) -> None:
    shown = score >= threshold
    wrong = chars == 0
    print(f"{name}: {len(score)} suggestions, {wrong.mean():.3f} wrong; at {threshold:.3f}: shows {shown.mean():.3f}, "
          f"holds back {(~shown & wrong).sum() / max(1, wrong.sum()):.3f} of the wrong ones, keeps "
          f"{chars[shown].sum() / max(1, chars.sum()):.3f} of accepted characters; accepted share of shown "
          f"{(~wrong)[shown].mean() if shown.any() else 0:.3f} (ungated {(~wrong).mean():.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default=",".join(TRAINING_FILES), help="standard-library files (comma-separated)")
    parser.add_argument("--places", type=int, default=6, help="places per file")
    parser.add_argument("--lines", type=int, default=6, help="lines per place")
    parser.add_argument("--keep", type=float, default=0.9, help="share of accepted characters the threshold keeps")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--unsure", default=str(gate.UNSURE_TOKEN),
                        help="log-probability that ends the shown part of a suggestion, or 'none' (shown whole)")
    parser.add_argument("--rows", type=Path, default=ROOT / ".cache" / "gate-suggestions.json",
                        help="the collected data: read from here if it exists (else collected and written here)")
    args = parser.parse_args()
    if args.rows.exists():
        rows = json.loads(args.rows.read_text())
    else:
        engine = LlamaEngine(default_model_path(), n_ctx=4096, n_threads=2)
        started = time.perf_counter()
        rows = collect(LlamaCompleter(engine), [STDLIB / name for name in args.files.split(",")], args.places,
                       args.lines, random.Random(args.seed))
        print(f"collected {len(rows)} suggestions in {time.perf_counter() - started:.0f} s")
        args.rows.parent.mkdir(parents=True, exist_ok=True)
        args.rows.write_text(json.dumps(rows))
    x, chars = labelled(rows, -math.inf if args.unsure == "none" else float(args.unsure))
    y = (chars > 0).astype(float)
    print(f"{len(x)} suggestions, {chars.sum():.0f} characters of them the user would accept")
    order = np.random.default_rng(args.seed).permutation(len(x))
    train, held = order[: len(x) // 2], order[len(x) // 2:]
    weights = fit(x[train], y[train])
    threshold = operating_point(scores(x[train], weights), chars[train], args.keep)
    report("fitted half", scores(x[train], weights), chars[train], threshold)
    report("held-out half", scores(x[held], weights), chars[held], threshold)
    for keep in (0.97, 0.95, 0.9, 0.85, 0.8):
        report(f"held-out half, keeping {keep}", scores(x[held], weights), chars[held],
               operating_point(scores(x[train], weights), chars[train], keep))
    weights = fit(x, y)  # the shipped model uses all the data
    threshold = operating_point(scores(x, weights), chars, args.keep)
    report("all", scores(x, weights), chars, threshold)
    print(f"INTERCEPT = {weights[0]:.4f}")
    print("COEFFICIENTS = (" + ", ".join(f"{w:.4f}" for w in weights[1:]) + ")  # " + ", ".join(gate.NAMES))
    print(f"THRESHOLD = {threshold:.3f}")


if __name__ == "__main__":
    main()
