"""The VS Code extension in a real VS Code: code-server serves it on loopback and headless
Chromium types into it (``clients/vscode/e2e/ghost.e2e.js`` lists the steps: ghost text, accept
a word then the rest, save only once the editor holds the text, a mismatching key dismisses, "Why
No Completion Here?" in a secret file, the activation time VS Code measured, a missing model, a
server found nowhere).
``make test`` installs code-server and chromium once per machine (``clients/vscode/e2e/setup.sh``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["ghost text", "Ctrl+Right accepted", "dismissed the ghost text", "secret", "activation",
         "missing model turns the status item into an error", "offers the install commands"]


def test_the_extension_in_a_real_vs_code():
    run = subprocess.run(["bash", str(ROOT / "clients" / "vscode" / "e2e" / "run.sh")], cwd=ROOT,
                         env={**os.environ, "INFILL_PYTHON": sys.executable}, capture_output=True, text=True,
                         timeout=900)
    passed = [line for line in run.stdout.splitlines() if line.startswith("PASS: ")]
    print("\n".join(passed))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    for step in STEPS:
        assert any(step in line for line in passed), f"no PASS line for {step!r}: {passed}"
    activation = re.search(r"activation (\d+) ms", run.stdout)
    assert activation, run.stdout
