"""The README's first screen installs in three commands and shows the ghost text; its settings
table is the one the settings schema gives."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from infill_lsp.settings import SETTINGS_BEGIN, SETTINGS_END, settings_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_settings_table_is_generated_from_the_schema():
    table = README.split(SETTINGS_BEGIN + "\n")[1].split("\n" + SETTINGS_END)[0]
    assert table == settings_table(), "stale: run python -m infill_lsp.settings"
    check = subprocess.run([sys.executable, "-m", "infill_lsp.settings", "--check"], cwd=ROOT, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr


def test_the_first_screen_shows_the_ghost_text_and_installs_in_three_commands():
    first_screen = README.split("\n## ")[0]
    picture = re.search(r"!\[[^\]]+\]\(([^)]+)\)", first_screen)
    assert picture and (ROOT / picture.group(1)).is_file(), "the screenshot from the VS Code test is missing"
    [commands] = re.findall(r"```sh\n(.*?)```", first_screen, re.S)
    assert [line.split("#")[0].split()[0] for line in commands.strip().splitlines()] == ["pipx", "pipx", "infill-lsp"]
    assert len(first_screen.splitlines()) <= 25
