"""Speed of the repository context engine on a large real tree (the CPython standard library).

Measures index build time and files/s, the index's memory, the latency from a file save to the
index reflecting it (through the real watcher), gather time for 2K–100K-token budgets with the
default model's own tokenizer counting every chunk (each at a new position: the worst case), and
gather time while typing: the next line of each sampled position retyped keystroke by keystroke,
as the server calls it.

    python -m bench.context_speed [--tree DIR] [--queries 30]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

from bench.stats import percentile
from infill_lsp.context import CursorSnapshot, Repository, select
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.fim.formats import CompletionMode
from infill_lsp.fim.prompt import render_snippet

BUDGETS = (2_000, 8_000, 32_000, 100_000)


def rss_mib() -> float:
    """Resident memory of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentiles(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms"


def measure_index(tree: Path) -> Repository:
    engine = Repository()
    engine.add_folder(tree)
    before = rss_mib()
    started = time.perf_counter()
    files = engine.index_all()
    seconds = time.perf_counter() - started
    print(f"index build: {files} files, {engine.index.chunk_count()} chunks in {seconds:.1f} s "
          f"({files / seconds:.0f} files/s); index memory {rss_mib() - before:.0f} MiB (RSS growth)")
    return engine


def measure_updates(saves: int = 20) -> None:
    workspace = Path(tempfile.mkdtemp(prefix="infill-bench-"))
    try:
        for i in range(200):
            (workspace / f"module_{i}.py").write_text(f"def function_{i}(x):\n    return x + {i}\n")
        engine = Repository()
        engine.add_folder(workspace)
        engine.start()
        engine.indexing_done.wait(60)
        time.sleep(0.5)
        latencies = []
        for save in range(saves):
            marker = f"saved_function_{save}"
            target = workspace / f"module_{save}.py"
            started = time.perf_counter()
            target.write_text(f"def {marker}(x):\n    return x\n")
            while not engine.index.definitions_of({marker}):
                time.sleep(0.002)
            latencies.append((time.perf_counter() - started) * 1000)
        engine.stop()
        print(f"save → index updated (inotify; a batch closes after 100 ms without events): "
              f"{percentiles(latencies)} over {saves} saves")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def measure_gather(engine: Repository, tree: Path, queries: int) -> None:
    model = LlamaEngine(default_model_path(), n_ctx=512)
    mode = CompletionMode(None, "prefix-only")
    cache: dict[tuple, int] = {}

    def cost(chunk) -> int:
        key = (chunk.path, chunk.start_line, hash(chunk.text))
        if key not in cache:
            cache[key] = len(render_snippet(chunk.path, chunk.text, mode, model.encoder))
        return cache[key]

    rng = random.Random(7)
    files = sorted(p for p in tree.rglob("*.py") if engine.index.file(p.relative_to(tree).as_posix()))
    positions = []
    for path in rng.sample(files, queries):
        text = path.read_text(encoding="utf-8", errors="replace")
        offset = rng.randrange(len(text) // 4, len(text))
        positions.append((path, text[:offset], text[offset:], text[:offset].count("\n")))
    for budget in BUDGETS:
        cold, warm, sizes = [], [], []
        for path, prefix, suffix, line in positions:
            for samples in (cold, warm):
                started = time.perf_counter()
                window = (max(0, line - 60), line + 20)
                snippets = select(engine.gather(CursorSnapshot.of(prefix, suffix, path), window),
                                  budget, cost)
                samples.append((time.perf_counter() - started) * 1000)
            sizes.append(len(snippets))
        print(f"gather {budget // 1000}K tokens: first {percentiles(cold)}; repeated {percentiles(warm)}; "
              f"{statistics.median(sizes):.0f} chunks")
    typing = []
    for path, prefix, suffix, line in positions:
        typed_line = suffix.split("\n", 1)[0]
        for end in range(1, min(len(typed_line), 30) + 1):
            started = time.perf_counter()
            cursor = CursorSnapshot.of(prefix + typed_line[:end], suffix[end:], path)
            select(engine.gather(cursor, (max(0, line - 60), line + 20)), 2_000, cost)
            typing.append((time.perf_counter() - started) * 1000)
    print(f"gather 2K tokens while typing ({len(typing)} keystrokes, the first of each line included): "
          f"{percentiles(typing)}")
    model.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=sysconfig.get_paths()["stdlib"], help="tree to index (default: the stdlib)")
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    tree = Path(args.tree)
    engine = measure_index(tree)
    measure_updates()
    measure_gather(engine, tree, args.queries)


if __name__ == "__main__":
    main()
