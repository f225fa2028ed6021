"""The VS Code extension: its settings match the server's schema, and its unit tests pass.

The real-editor test (code-server in headless Chromium) is ``make test-vscode``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from infill_lsp.settings import settings_schema

EXTENSION = Path(__file__).resolve().parent.parent / "clients" / "vscode"


def contributed() -> dict:
    package = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    return package["contributes"]["configuration"]["properties"]


def test_contributed_settings_are_generated_from_the_server_schema():
    check = subprocess.run([sys.executable, str(EXTENSION / "settings_sync.py"), "--check"], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    properties = contributed()
    for key, entry in settings_schema().items():
        mine = properties[f"infill.{key}"]
        assert (mine["type"], mine["default"], mine.get("enum"), mine.get("minimum"), mine.get("maximum")) == (
            entry["type"], entry["default"], entry.get("enum"), entry.get("minimum"), entry.get("maximum")), key
    assert properties["infill.completion.enabled"]["scope"] == "language-overridable"


def test_launch_and_server_settings_users_look_for_are_there():
    properties = contributed()
    for key in ("server.pythonPath", "server.command", "model.path", "model.gpuLayers", "context.maxTokens",
                "completion.maxTokens", "completion.multiline", "completion.enabled"):
        assert f"infill.{key}" in properties, key


def test_extension_unit_tests_pass():
    assert (EXTENSION / "node_modules" / "typescript").is_dir(), ("run `make test`, which installs the extension's npm "
                                                                  "packages")
    npm = shutil.which("npm")
    assert npm, "Node.js 20+ with npm is needed for the VS Code extension's tests"
    run = subprocess.run([npm, "test", "--silent"], cwd=EXTENSION, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "# fail 0" in run.stdout and "# pass" in run.stdout, run.stdout[-2000:]
