"""What the confidence gate costs per keystroke: the log-probability kept per generated token,
and the verdict.

Types the places of ``bench.usefulness`` (every third cursor position of their lines) through the
pipeline the server runs (``LlamaCompleter``, the bundled model, the replay's settings) and
times, per suggestion, the ``NativeContext.last_logprob`` calls its generation made (timed by
wrapping the method) and the gate's verdicts (``gate.streamed_part`` on each partial suggestion,
as the service judges them while streaming, and ``gate.judge`` on the finished one); the whole
suggestion's time is printed beside them.

    python -m bench.gate_cost [--suggestions 150]
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import threading
import time
from pathlib import Path

from bench.stats import percentile
from bench.typing_user import places
from bench.usefulness import MAX_TOKENS, PACKAGE_FILES, WINDOW_TOKENS
from infill_lsp import gate
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.request import CompletionRequest, CompletionResult
from infill_lsp.settings import CompletionSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suggestions", type=int, default=150)
    args = parser.parse_args()
    engine = LlamaEngine(default_model_path(), n_ctx=2048, n_threads=2)
    completer = LlamaCompleter(engine)
    spent = [0.0]
    measured = engine.context.last_logprob

    def timed(token: int) -> float:
        started = time.perf_counter()
        try:
            return measured(token)
        finally:
            spent[0] += time.perf_counter() - started

    engine.context.last_logprob = timed
    settings = CompletionSettings(max_tokens=MAX_TOKENS, multiline="never", window_tokens=WINDOW_TOKENS, fim="off",
                                  prompt_budget_ms=0)
    rows = []
    rng = random.Random(5)
    for name in PACKAGE_FILES:
        package, _, rest = name.partition("/")
        for place in places(Path(importlib.import_module(package).__file__).parent / rest, 2, 4, rng):
            typed = place.before
            for line in place.lines:
                for position in range(0, len(line) + 1, 3):
                    if len(rows) >= args.suggestions:
                        break
                    prefix = typed + line[:position]
                    spent[0] = judging = 0.0
                    started = time.perf_counter()
                    request = CompletionRequest(prefix, "\n" + place.after, settings)
                    for item in completer.stream(request, threading.Event()):
                        judged = time.perf_counter()
                        if isinstance(item, CompletionResult):
                            result = item
                            gate.judge(result.text, result.scores, prefix, gate.THRESHOLD)
                        else:  # what the service does with each partial while the gate is on
                            gate.streamed_part(item.text[: item.settled], item.scores, prefix, gate.THRESHOLD)
                        judging += time.perf_counter() - judged
                    total = time.perf_counter() - started
                    tokens = result.stats.generated_tokens if result.stats else 0
                    rows.append((spent[0] * 1000, judging * 1000, total * 1000, tokens))
                typed += line + "\n"
    logprob, judging, total, tokens = (list(column) for column in zip(*rows))
    added = [a + b for a, b in zip(logprob, judging)]
    print(f"{len(rows)} suggestions, median {statistics.median(tokens):.0f} tokens generated")
    print(f"log-probabilities per suggestion: median {statistics.median(logprob):.2f} ms, p95 "
          f"{percentile(logprob, 0.95):.2f} ms")
    print(f"gate verdicts per suggestion: median {statistics.median(judging):.3f} ms, p95 "
          f"{percentile(judging, 0.95):.3f} ms")
    print(f"added per keystroke: median {statistics.median(added):.2f} ms, p95 {percentile(added, 0.95):.2f} ms, max "
          f"{max(added):.2f} ms; the suggestion itself: median {statistics.median(total):.0f} ms")


if __name__ == "__main__":
    main()
