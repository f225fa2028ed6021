"""A contributor's editor follows every project import from a checkout after `make install`:
Pyright (what VS Code's Pylance runs) and Jedi (what jedi-language-server, pylsp and many Vim and
Emacs setups run) resolve each ``infill_lsp`` and ``bench`` module to the file in the checkout."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import jedi
import pytest

ROOT = Path(__file__).resolve().parent.parent
PYRIGHT = ROOT / ".cache/pyright/node_modules/.bin/pyright"
PROJECT = ("infill_lsp", "bench")


def project_imports() -> set[str]:
    """Every module of ours that some file of the checkout imports."""
    found = set()
    for folder in ("lsp_server", "context", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if "node_modules" in path.parts or path.is_relative_to(ROOT / "lsp_server/context"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
                found.update(name for name in names if name.split(".")[0] in PROJECT)
    return found


@pytest.mark.real
def test_pyright_resolves_every_project_import():
    if not PYRIGHT.is_file():
        pytest.fail(f"{PYRIGHT} is missing: run `make test`, which installs npm's pyright")
    run = subprocess.run([str(PYRIGHT), "--outputjson"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(run.stdout)
    assert report["summary"]["filesAnalyzed"] > 100, report["summary"]
    unresolved = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in report["generalDiagnostics"]
                  if d.get("rule") in ("reportMissingImports", "reportMissingModuleSource")]
    assert unresolved == [], "\n".join(unresolved)


@pytest.mark.real
def test_jedi_resolves_every_project_import_to_the_checkout():
    project = jedi.Project(ROOT, environment_path=sys.prefix)
    modules = project_imports()
    assert {"infill_lsp.context", "infill_lsp.engine.completer", "bench.lsp_client"} <= modules
    unresolved = []
    for module in sorted(modules):
        found = jedi.Script(f"import {module}", project=project).goto(1, len(f"import {module}"))
        path = found[0].module_path if found else None
        if path is None or not Path(path).resolve().is_relative_to(ROOT):
            unresolved.append(f"{module}: {path}")
    assert unresolved == [], "\n".join(unresolved)
