"""The model catalog: FIM code models known by name, and what ``--model`` may name.

The catalog is one reviewed data file shipped with the package (``catalog.json``); a team adds or
overrides entries with its own file in ``$INFILL_CATALOG`` (a mirror's repositories, say).
``--model`` takes a path, a catalog name or ``hf:owner/repo/file.gguf``; a name resolves to the
file in the hub client's cache, and never downloads: ``infill-lsp pull`` does that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from infill_lsp.installed import hub_client_installed

CATALOG_ENV = "INFILL_CATALOG"
HF_PREFIX = "hf:"
_BYTES_PER_PARAMETER = {"Q8_0": 1.07, "Q4_K_M": 0.61, "Q4_0": 0.57, "Q5_K_M": 0.71, "Q6_K": 0.82, "F16": 2.0}


class ModelNotFound(Exception):
    """``--model`` names nothing usable; the message says what to run."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    repo: str
    file: str
    quantization: str
    parameters_b: float
    context: int
    fim: str | None
    """``psm``, ``spm``, or None (prefix-only)."""
    license: str
    hardware: str
    sha256: str | None
    size_bytes: int | None
    verified: bool

    def estimated_bytes(self) -> int:
        """The file's size: the catalog's, else parameters × bytes per parameter of the quantization."""
        if self.size_bytes:
            return self.size_bytes
        return int(self.parameters_b * 1e9 * _BYTES_PER_PARAMETER.get(self.quantization, 1.0))


def load_catalog() -> list[CatalogEntry]:
    """The shipped entries, then ``$INFILL_CATALOG``'s (an entry of the same name replaces one)."""
    texts = [resources.files("infill_lsp").joinpath("catalog.json").read_text(encoding="utf-8")]
    extra = os.environ.get(CATALOG_ENV)
    if extra:
        try:
            texts.append(Path(extra).read_text(encoding="utf-8"))
        except OSError as error:
            raise ModelNotFound(f"cannot read {CATALOG_ENV}={extra}: {error.strerror}") from None
    entries: dict[str, CatalogEntry] = {}
    names = {field.name for field in fields(CatalogEntry)}
    for text in texts:
        for item in json.loads(text)["models"]:
            entries[item["name"]] = CatalogEntry(**{key: value for key, value in item.items() if key in names})
    return list(entries.values())


def find(name: str) -> CatalogEntry | None:
    return next((entry for entry in load_catalog() if entry.name == name), None)


def cached_file(repo: str, file: str) -> Path | None:
    """The file in the hub client's cache, if it was downloaded (no network). Without the optional
    hub client nothing can have been pulled, so nothing is found."""
    if not hub_client_installed():
        return None
    from huggingface_hub import try_to_load_from_cache  # slow to import: only when a name is resolved

    found = try_to_load_from_cache(repo, file)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def split_hf(spec: str) -> tuple[str, str]:
    """``hf:owner/repo/file.gguf`` → (``owner/repo``, ``file.gguf``)."""
    parts = spec[len(HF_PREFIX):].split("/")
    if len(parts) < 3 or not all(parts):
        raise ModelNotFound(f"{spec!r} is not hf:owner/repo/file.gguf")
    return "/".join(parts[:2]), "/".join(parts[2:])


def resolve_model(spec: str | None) -> str | None:
    """The file ``--model`` names: a path as given, a catalog name or ``hf:`` spec from the cache.
    A name that is not downloaded raises :class:`ModelNotFound` naming the ``pull`` command."""
    if spec and spec.startswith(HF_PREFIX):
        repo, file = split_hf(spec)
    elif not spec or os.path.exists(spec) or os.sep in spec or spec.endswith(".gguf") or spec.startswith("fake:"):
        return spec  # a path (a missing one is reported by the loader, with its own remedy)
    else:
        entry = find(spec)
        if entry is None:
            raise ModelNotFound(f"no model file and no catalog model named {spec!r}: see `infill-lsp models`")
        repo, file = entry.repo, entry.file
    path = cached_file(repo, file)
    if path is None:
        raise ModelNotFound(f"{spec} is not downloaded: run `infill-lsp pull {spec}` (the server never downloads)")
    return str(path)


def entry_for_file(path: str | None) -> CatalogEntry | None:
    """The catalog entry whose file ``path`` is (by file name), if any."""
    name = os.path.basename(path or "")
    return next((entry for entry in load_catalog() if os.path.basename(entry.file) == name), None)


def fim_mismatch(entry: CatalogEntry, fim_order: str | None) -> str | None:
    """What the catalog says about FIM that the loaded vocabulary contradicts, or None.
    (The prompt layout always follows the vocabulary; this only flags a wrong catalog entry.)"""
    if entry.fim != fim_order:
        return (f"the catalog lists {entry.name} as {entry.fim or 'prefix-only'}, the loaded model "
                f"is {fim_order or 'prefix-only'}: the model's own vocabulary decides")
    return None


USABLE_TOKENS_PER_S = 12
"""Below this a suggestion line takes seconds: a CPU recommendation goes for a smaller model."""


def recommend(memory_bytes: int, gpu_total: int | None,
              expected_speed: Callable[[CatalogEntry], float] | None = None) -> tuple[CatalogEntry, str]:
    """The catalog model to suggest for this hardware (``gpu_total``: GPU memory, None without a
    GPU; ``expected_speed``: tokens/s a model would generate here), and why."""
    entries = {entry.name: entry for entry in load_catalog()}
    gib = 2**30
    if gpu_total is not None:
        for name, need in (("qwen2.5-coder-7b", 16), ("qwen2.5-coder-3b", 8), ("qwen2.5-coder-1.5b", 4)):
            if gpu_total >= need * gib:
                return entries[name], f"a GPU with {gpu_total / gib:.0f} GB: the largest Qwen2.5-Coder that fits it"
    small, smallest = entries["qwen2.5-coder-1.5b"], entries["qwen2.5-coder-0.5b"]
    if memory_bytes >= 8 * gib and (expected_speed is None or expected_speed(small) >= USABLE_TOKENS_PER_S):
        return small, "CPU only: a 1.5B FIM model, fast enough here"
    if expected_speed is not None and expected_speed(smallest) < USABLE_TOKENS_PER_S:
        return smallest, "CPU only: the smallest FIM model, and even it is slow on this machine"
    return smallest, "CPU only: the smallest FIM model, the one fast enough here"
