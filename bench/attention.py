"""What a keystroke's one-token decode costs under each attention setting, at a given depth.

One llama.cpp context per setting (flash attention off / on / llama.cpp's ``auto``, f16 KV;
and a q8_0 KV cache, which needs flash attention), each filled with ``--depth`` random tokens,
then timed over 30 one-token decodes: the work of a keystroke on a cached prompt. Infill's
``--flash-attn auto`` follows from these numbers (docs/benchmarks.md).

    python -m bench.attention [--depth 8192] [--threads 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import llama_cpp

from infill_lsp.engine.models import default_model_path

SETTINGS = [
    ("f16, flash attention off", llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED, llama_cpp.GGML_TYPE_F16),
    ("f16, flash attention on", llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED, llama_cpp.GGML_TYPE_F16),
    ("f16, auto", llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO, llama_cpp.GGML_TYPE_F16),
    ("q8_0, flash attention on", llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED, llama_cpp.GGML_TYPE_Q8_0),
]
_QUIET = llama_cpp.llama_log_callback(lambda *_: None)
"""A module global: llama.cpp keeps calling the callback after ``llama_log_set`` returns."""
KEYSTROKES = 30
BATCH = 512


def decode(ctx, tokens: list[int]) -> None:
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array, len(tokens))) != 0:
        raise RuntimeError("llama_decode failed")


def measure(model, name: str, flash: int, kv_type: int, tokens: list[int], depth: int, threads: int) -> str:
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = depth + KEYSTROKES + 64
    params.n_batch = params.n_ubatch = BATCH
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = flash
    params.type_k = params.type_v = kv_type
    ctx = llama_cpp.llama_init_from_model(model, params)
    if not ctx:
        return f"{name:26s} could not create the context"
    try:
        started = time.perf_counter()
        for start in range(0, depth, BATCH):
            decode(ctx, tokens[start:min(start + BATCH, depth)])
        prefill = depth / (time.perf_counter() - started)
        times = []
        for token in tokens[depth:depth + KEYSTROKES]:
            started = time.perf_counter()
            decode(ctx, [token])
            llama_cpp.llama_get_logits_ith(ctx, -1)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        llama_cpp.llama_free(ctx)
    return (f"{name:26s} depth {depth}: one-token decode p50 {statistics.median(times):.1f} ms "
            f"(min {min(times):.1f}, max {max(times):.1f}); prefill {prefill:.0f} tokens/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=8192, help="tokens in the cache before the keystrokes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=Path(default_model_path()))
    args = parser.parse_args()
    llama_cpp.llama_backend_init()
    llama_cpp.llama_log_set(_QUIET, None)  # keep the table readable
    model = llama_cpp.llama_model_load_from_file(str(args.model).encode(), llama_cpp.llama_model_default_params())
    if not model:
        raise SystemExit(f"could not load {args.model}")
    rng = random.Random(0)
    tokens = [rng.randrange(100, llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model)))
              for _ in range(args.depth + KEYSTROKES)]
    print(f"model {args.model.name}; {args.threads} threads")
    for name, flash, kv_type in SETTINGS:
        print(measure(model, name, flash, kv_type, tokens, args.depth, args.threads), flush=True)
    llama_cpp.llama_model_free(model)


if __name__ == "__main__":
    main()
