"""What shifting the cached suffix costs in PSM: the shifted prompt against the exact one, per keystroke.

A PSM keystroke decodes only what was typed and ``<MID>``, before the suffix block cached for
an older prefix (``KvCache.place``). This replays the typing session of ``bench/latency.py``
(lines of a real file retyped with a typist's timing) through two engines over the same
model: one types as the server does (shifted suffix; the pause after a keystroke refreshes
it exactly when the next key comes at least ``--refresh-after`` seconds later, as the server's
background refresh would have finished by then; ``--no-refresh``: never), the other in the split
layout, which cannot shift and so evaluates everything after the common prefix exactly. Per
keystroke: the KL divergence of the next-token distribution at ``<MID>`` (exact ‖ shifted), whether
the greedy suggestion's first line is the same, and the tokens each evaluated.

    python -m bench.psm_shift [--lines 8] [--window-tokens 512] [--no-refresh] [--floor] [--model FIM.gguf]

The default model is a copy of the bundled SmolLM2-135M whose metadata names three unused tokens as FIM
tokens (``bench.latency.fim_shaped_model``): its weights are real, so the suffix's influence on
the distribution is a real transformer's, but it was never trained on FIM.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
from pathlib import Path

import numpy as np

from bench.latency import SESSION_FILE, SESSION_LINE, fim_shaped_model, session_start
from bench.replay import make_session
from bench.stats import percentile
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.generation import GenerationStats
from infill_lsp.engine.kv_cache import STALE_LIMIT
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

ROOT = Path(__file__).resolve().parent.parent


def distribution(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    weights = np.exp(shifted)
    return weights / weights.sum()


def kl(exact: np.ndarray, shifted: np.ndarray) -> float:
    p, q = distribution(exact), distribution(shifted)
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(np.maximum(q[mask], 1e-30)))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=8, help="lines the session retypes")
    parser.add_argument("--session-line", type=int, default=SESSION_LINE)
    parser.add_argument("--window-tokens", type=int, default=512)
    parser.add_argument("--refresh-after", type=float, default=0.3, help="seconds of pause that refresh the suffix")
    parser.add_argument("--no-refresh", action="store_true", help="never refresh: staleness bounded by the limit alone")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--floor", action="store_true",
                        help="the first engine never moves the suffix either: how far the two layouts' arithmetic "
                             "alone parts")
    parser.add_argument("--model", type=Path,
                        help="a FIM model's GGUF (default: the FIM-shaped copy of the bundled model)")
    args = parser.parse_args()
    model = args.model or fim_shaped_model(Path(default_model_path()),
                                           ROOT / ".cache" / "models" / "smollm2-fim-shaped.gguf")
    document = SESSION_FILE.read_text(encoding="utf-8")
    session = make_session(document, session_start(document, args.session_line, args.lines), args.lines,
                           random.Random(args.seed))
    n_ctx = args.window_tokens + 256
    shifting = LlamaEngine(str(model), n_ctx=n_ctx, n_threads=2)
    exact = LlamaEngine(str(model), n_ctx=n_ctx, n_threads=2, split_sequences=True)
    assert shifting.context.inserts and not exact.context.inserts
    if args.floor:
        shifting.context.inserts = False
    settings = CompletionSettings(fim="on", fim_order="psm", window_tokens=args.window_tokens, max_tokens=24,
                                  multiline="never", prompt_budget_ms=0)
    completers = {"shifted": LlamaCompleter(shifting), "exact": LlamaCompleter(exact)}
    before, rows = session.before, []
    keystrokes = session.keystrokes
    for number, keystroke in enumerate(keystrokes):
        before += keystroke.text
        request = CompletionRequest(before, session.after, settings, path="_pydecimal.py")
        prompt, _mode = completers["exact"].prompt(request)
        row = {}
        for name, completer in completers.items():
            stats = GenerationStats()
            completer.engine.evaluate_prompt(prompt.tokens, threading.Event(), stats)
            row[name] = completer.engine.context.last_logits()
            row[f"{name}_evaluated"] = stats.evaluated_tokens
            row[f"{name}_stale"] = completer.engine.kv.foreground.stale
            text = completer.complete(request).text
            row[f"{name}_line"] = text.split("\n")[0]
        rows.append({"kl": kl(row["exact"], row["shifted"]), "same": row["shifted_line"] == row["exact_line"],
                     "evaluated": row["shifted_evaluated"], "exact_evaluated": row["exact_evaluated"],
                     "stale": row["shifted_stale"]})
        following = keystrokes[number + 1].delay if number + 1 < len(keystrokes) else 0.0
        if not args.no_refresh and following >= args.refresh_after:
            shifting.refresh(threading.Event())
    stale = [r for r in rows if r["stale"]]
    divergences = [r["kl"] for r in rows]
    print(f"{len(rows)} keystrokes ({len(stale)} over a shifted suffix); window {args.window_tokens} tokens; "
          f"staleness limit {STALE_LIMIT} tokens; refresh "
          f"{'never' if args.no_refresh else f'after {args.refresh_after} s pauses'}")
    print(f"KL(exact || shifted) at <MID>: median {statistics.median(divergences):.4f}, p95 "
          f"{percentile(divergences, 0.95):.4f}, max {max(divergences):.4f} nats")
    if stale:
        print(f"  over a shifted suffix only: median {statistics.median(r['kl'] for r in stale):.4f}, "
              f"p95 {percentile([r['kl'] for r in stale], 0.95):.4f}")
    print(f"greedy first line unchanged: {sum(r['same'] for r in rows) / len(rows):.3f} "
          f"({sum(r['same'] for r in stale)}/{len(stale)} over a shifted suffix)")
    for low, high in ((1, 2), (3, 4), (5, 8), (9, 16), (17, STALE_LIMIT)):
        bucket = [r for r in rows if low <= r["stale"] <= high]
        if bucket:
            print(f"  {low:2d}-{high:2d} tokens changed since exact: {len(bucket):3d} keystrokes, KL median "
                  f"{statistics.median(r['kl'] for r in bucket):.4f}, first line unchanged "
                  f"{sum(r['same'] for r in bucket) / len(bucket):.3f}")
    print(f"evaluated per keystroke: shifted median {statistics.median(r['evaluated'] for r in rows):.0f}, "
          f"exact median {statistics.median(r['exact_evaluated'] for r in rows):.0f}")


if __name__ == "__main__":
    main()
