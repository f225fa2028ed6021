"""The half-typed name at the cursor, resolved through the file's imports, through the real server.

Each workspace holds the definition the user is typing plus distractors that share its words
(``parse``, ``config``, ``helpers``) and outrank it by text similarity, and the context budget
is smaller than all of them together: only the symbol table puts the definition in the prompt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_context_e2e import indexed
from test_server_e2e import complete, log_lines, open_document, session

HELPERS = ('def parse_remote_config_file(location, retries=3):\n'
           '    """Fetch the remote configuration at ``location`` and parse it."""\n'
           '    return fetch(location, retries)\n')
CLIENT = ('class Client:\n'
          '    def __init__(self, url):\n'
          '        self.url = url\n\n'
          '    def fetch_user_profile(self, user_id):\n'
          '        """The profile page of one user."""\n'
          "        return self.url + '/profiles/' + str(user_id) + '/' + self.url\n")
CONFIG_TS = ('export function parseRemoteConfigFile(location: string): Record<string, string> {\n'
             '  return JSON.parse(location);\n'
             '}\n')


def padded(definition: str, extension: str) -> str:
    """A real module's shape: the definition comes after many others that share its words."""
    if extension == ".py":
        others = "".join(f"def load_remote_section_{n}(location, section):\n"
                         f"    \"\"\"Load section {n} of the remote configuration.\"\"\"\n"
                         f"    return fetch(location + '/{n}', section)\n\n\n" for n in range(25))
    else:
        others = "".join(f"export function loadRemoteSection{n}(location: string): string {{\n"
                         f"  return fetch(location + '/{n}');\n}}\n\n" for n in range(25))
    return others + definition


def client_class() -> str:
    """A class large enough to be chunked per method, its other methods first."""
    methods = "".join(f"    def fetch_user_setting_{n}(self, user_id):\n"
                      f"        return self.url + '/settings/{n}/' + str(user_id)\n\n" for n in range(30))
    return CLIENT.replace("    def fetch_user_profile", methods + "    def fetch_user_profile")


def distractors(root: Path, extension: str) -> None:
    """Files full of the words near the cursor, none defining the typed name."""
    for number in range(12):
        if extension == ".py":
            text = "".join(f"def parse_config_{number}_{n}(helpers, config):\n"
                           f"    helpers.parse(config, remote={n})\n    return helpers.config\n\n" for n in range(6))
        else:
            text = "".join(f"export function parseConfig{number}x{n}(cfg: any, remote: number): any {{\n"
                           f"  return cfg.parse(remote + {n});\n}}\n" for n in range(6))
        (root / "lib" / f"parsing_{number}{extension}").write_text(text)


CASES = {
    "from pkg import module": ("app/main.py", "from pkg import helpers\n\nsettings = helpers.parse_re",
                               "def parse_remote_config_file("),
    "import pkg.module as alias": ("app/main.py", "import pkg.helpers as h\n\nsettings = h.parse_re",
                                   "def parse_remote_config_file("),
    "relative import": ("pkg/main.py", "from . import helpers\n\nsettings = helpers.parse_re",
                        "def parse_remote_config_file("),
    "from pkg.module import name": ("app/main.py",
                                    "from pkg.helpers import parse_remote_config_file\n\nsettings = parse_re",
                                    "def parse_remote_config_file("),
    "method of a constructed instance": ("app/main.py",
                                         "from pkg.client import Client\n\nclient = Client('https://x')\n"
                                         "data = client.fetch_us", "def fetch_user_profile("),
    "ts named import": ("web/app.ts", "import { parseRemoteConfigFile } from './config';\n\nconst settings = parseRem",
                        "export function parseRemoteConfigFile("),
    "ts namespace import": ("web/app.ts", "import * as cfg from './config';\n\nconst settings = cfg.parseRem",
                            "export function parseRemoteConfigFile("),
}


def with_code_between(text: str, extension: str) -> str:
    """The file's imports, then 40 lines of its own code, then the line being typed: the
    imports are out of the text the ranking reads around the cursor, as in a real file."""
    imports, typing = text.split("\n\n", 1)
    if extension == ".py":
        body = "".join(f"def step_{n}(value):\n    return value + {n}\n\n\n" for n in range(10))
    else:
        body = "".join(f"function step{n}(value: number): number {{\n  return value + {n};\n}}\n" for n in range(13))
    return f"{imports}\n\n{body}\n{typing}"


def workspace(root: Path) -> None:
    for folder in ("pkg", "app", "lib", "web"):
        (root / folder).mkdir()
    (root / "pkg/__init__.py").write_text("VERSION = '1.0'\n")
    (root / "pkg/helpers.py").write_text(padded(HELPERS, ".py"))
    (root / "pkg/client.py").write_text(client_class())
    (root / "web/config.ts").write_text(padded(CONFIG_TS, ".ts"))
    distractors(root, ".py")
    distractors(root, ".ts")


def prompt_of(log: Path, request: int) -> str:
    [line] = log_lines(log, f"prompt id={request} ")
    return line


@pytest.mark.parametrize("budget_ms", [0, 400], ids=["whole prompt", "shortened first prompt"])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_definition_of_the_half_typed_name_is_in_the_first_prompt(default_model, tmp_path, case, budget_ms):
    relative, text, definition = CASES[case]
    text = with_code_between(text, Path(relative).suffix)
    root = tmp_path / "repo"
    root.mkdir()
    workspace(root)
    document = root / relative
    document.write_text(text + "\n")
    log = tmp_path / "server.log"
    options = {"context": {"maxTokens": 320}, "completion": {"promptBudgetMs": budget_ms, "maxTokens": 8}}
    async with session(default_model, root=root, options=options, args=("--log-file", str(log), "-v")) as client:
        await indexed(client)
        open_document(client, text + "\n", uri=document.as_uri())
        lines = text.split("\n")
        await complete(client, document.as_uri(), len(lines) - 1, len(lines[-1]))
    prompt = prompt_of(log, 1)
    assert definition in prompt, f"{case}: the definition is missing from the prompt: {prompt[:2000]}"
    if budget_ms:
        assert " shortened " in log_lines(log, "completion id=1 ")[0], "this case is meant to test a shortened prompt"
