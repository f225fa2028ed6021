"""Writes (or, with --check, verifies) the settings the VS Code extension contributes.

The server's settings come from ``infill_lsp.settings.settings_schema()``, so the extension's
settings never drift from what the server accepts; the settings that only concern how the
extension starts the server (``infill.server.*``, ``infill.model.*``) are defined here.

    python clients/vscode/settings_sync.py          # rewrite package.json
    python clients/vscode/settings_sync.py --check  # exit 1 if package.json is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infill_lsp.settings import settings_schema  # noqa: E402

PACKAGE = Path(__file__).with_name("package.json")
SECTION = "infill"

LAUNCH_SETTINGS = {
    "server.command": {
        "type": "string", "default": "infill-lsp",
        "description": "The Infill language server executable (used when Server: Python Path is empty)."},
    "server.pythonPath": {
        "type": "string", "default": "",
        "description": "A Python interpreter that has Infill installed; when set, the server runs as "
                       "`<python> -m infill_lsp`."},
    "server.extraArgs": {
        "type": "array", "items": {"type": "string"}, "default": [],
        "description": "Extra command-line arguments for the server (e.g. [\"--log-file\", \"/tmp/infill.log\"])."},
    "model.path": {
        "type": "string", "default": "",
        "description": "GGUF model file, a catalog name (`infill-lsp models`) or hf:owner/repo/file.gguf, "
                       "downloaded first with `infill-lsp pull NAME`; empty uses the bundled SmolLM2-135M (no "
                       "download needed)."},
    "model.gpuLayers": {
        "type": "integer", "default": -1, "minimum": -1,
        "description": "Layers offloaded to the GPU: -1 all of them when llama.cpp was built with CUDA or Metal, "
                       "0 none."},
    "model.contextSize": {
        "type": "integer", "default": 0, "minimum": 0,
        "description": "KV cache size in tokens; 0 uses the model's training context, at most 8192."},
    "model.threads": {
        "type": "integer", "default": 0, "minimum": 0,
        "description": "CPU threads for inference; 0 uses one per core, at most 8."},
}
LANGUAGE_OVERRIDABLE = {"completion.enabled"}
"""Settings a user may set per language (``"[markdown]": {"infill.completion.enabled": false}``)."""


def properties() -> dict:
    """Every contributed setting, keyed ``infill.<name>``, in a stable order."""
    result = {}
    for key, entry in {**LAUNCH_SETTINGS, **settings_schema()}.items():
        entry = dict(entry)
        if key in LAUNCH_SETTINGS:
            entry["scope"] = "machine-overridable"  # paths on this machine, not shared in a workspace
        elif key in LANGUAGE_OVERRIDABLE:
            entry["scope"] = "language-overridable"
        entry["markdownDescription"] = entry.pop("description")
        result[f"{SECTION}.{key}"] = entry
    return result


def main() -> int:
    package = json.loads(PACKAGE.read_text(encoding="utf-8"))
    wanted = properties()
    if "--check" in sys.argv[1:]:
        current = package["contributes"]["configuration"]["properties"]
        if current != wanted:
            missing = sorted(set(wanted) - set(current))
            extra = sorted(set(current) - set(wanted))
            changed = sorted(k for k in set(wanted) & set(current) if wanted[k] != current[k])
            print(f"{PACKAGE} is out of date (missing {missing}, extra {extra}, changed {changed}); "
                  f"run: python {Path(__file__).relative_to(Path.cwd()) if Path(__file__).is_relative_to(Path.cwd()) else __file__}",
                  file=sys.stderr)
            return 1
        return 0
    package["contributes"]["configuration"]["properties"] = wanted
    PACKAGE.write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
