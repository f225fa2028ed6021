"""Background prompt evaluation against a busy Python thread: the cost of the abort check.

A background decode can be stopped inside a chunk: llama.cpp polls an abort callback between
graph operations, and that callback is Python, so it takes the interpreter lock each time.
While another thread runs Python (the indexer on a cold start), each poll may wait for the
lock up to the interpreter's switch interval. This measures prefill speed in 8-token chunks
(the growth chunk) alone, beside a busy Python thread at niceness 10, with and without the
callback, at Python's default switch interval and at the one the server sets.

    python -m bench.switch_interval [--tokens 1024]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from infill_lsp.engine.completer import GROWTH_CHUNK
from infill_lsp.engine.generation import GenerationStats
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.inference import SWITCH_INTERVAL_S

SOURCE = Path(__file__).resolve().parent.parent / "lsp_server" / "server.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    engine = LlamaEngine(default_model_path(), n_ctx=args.tokens + 512, n_threads=args.threads)
    tokens = (engine.encoder.encode(SOURCE.read_text()) * 4)[:args.tokens]
    busy = threading.Event()

    def python_work() -> None:
        os.nice(10)
        while busy.is_set():
            sum(range(1000))

    def speed(label: str, background: bool) -> None:
        engine.reset_cache()
        started = time.perf_counter()
        engine.evaluate_prompt(tokens, threading.Event(), GenerationStats(), GROWTH_CHUNK, background=background)
        print(f"{label:55} {len(tokens) / (time.perf_counter() - started):6.0f} tokens/s", flush=True)

    sys.setswitchinterval(0.005)
    speed("alone, no abort callback", False)
    speed("alone, abort callback", True)
    busy.set()
    threading.Thread(target=python_work, daemon=True).start()
    speed("beside a busy Python thread, no abort callback", False)
    speed("beside a busy Python thread, abort callback, 5 ms switch", True)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    speed(f"beside a busy Python thread, abort callback, {SWITCH_INTERVAL_S * 1000:g} ms switch", True)
    busy.clear()
    engine.close()


if __name__ == "__main__":
    main()
