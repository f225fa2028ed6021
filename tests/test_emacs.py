"""Emacs with eglot, headless: an editor without inline completion gets the suggestion through
``completion-at-point``. Debian's ``emacs-nox`` and ``elpa-eglot`` (``make test`` installs them
through ``tests/emacs/install.sh``) run ``tests/emacs/eglot_complete.el``, which opens a file,
lets eglot start the server as a user's configuration would, and completes at the cursor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).resolve().parent / "emacs" / "eglot_complete.el"
SOURCE = ('def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n'
          '    return fib\n')


def test_completion_at_point_in_emacs_inserts_the_suggestion_at_the_cursor(default_model, tmp_path):
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: run `make test` (tests/emacs/install.sh installs Debian's emacs-nox and eglot)"
    source = tmp_path / "project" / "fib.py"
    source.parent.mkdir()
    source.write_text(SOURCE)
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "infill_lsp", "--model", str(default_model), "--threads", "2",
               "--log-file", str(log)]
    out = tmp_path / "out.json"
    env = {**os.environ, "INFILL_CMD": json.dumps(command), "INFILL_FILE": str(source), "INFILL_LINE": "5",
           "INFILL_OUT": str(out), "HOME": str(tmp_path)}
    process = subprocess.run([emacs, "--batch", "-Q", "-l", str(DRIVER)], env=env, capture_output=True, text=True,
                             timeout=180)
    assert process.returncode == 0 and out.exists(), process.stderr[-2000:]
    result = json.loads(out.read_text())
    server_log = log.read_text()
    print(f"eglot: inserted {result['line']!r} {result['seconds']:.1f} s after opening the file")
    # eglot announces no inline completion: the server offered the popup item, and eglot applied
    # its edit, which keeps the typed "fib" and adds the rest of the suggestion after it.
    assert result["changed"] is True
    assert result["line"].startswith("    return fib") and len(result["line"].strip()) > len("return fib")
    assert result["text"].replace(result["line"], "    return fib") == SOURCE
    assert "completion id=1 " in server_log and "chars=" in server_log
