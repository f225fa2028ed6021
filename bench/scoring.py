"""Teacher-forced log-probabilities: how likely the model finds a known continuation.

Only the benchmarks score text this way; the server never does.
"""

from __future__ import annotations

import threading

import numpy as np

from infill_lsp.engine.generation import GenerationStats
from infill_lsp.engine.llama_engine import LlamaEngine


def log_probs(engine: LlamaEngine, prompt: list[int], continuation: list[int]) -> list[float]:
    """Log-probability of each continuation token after ``prompt``."""
    engine.evaluate_prompt(prompt, threading.Event(), GenerationStats())
    result = []
    for token in continuation:
        logits = engine.context.last_logits().astype(np.float64)
        peak = logits.max()
        result.append(float(logits[token] - peak - np.log(np.exp(logits - peak).sum())))
        engine.kv.decode(engine.kv.current, [token])
    return result
