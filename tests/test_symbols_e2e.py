"""The half-typed name at the cursor, resolved through the file's imports, through the real server.

Each workspace holds the definition the user is typing plus distractors that share its words
(``parse``, ``config``, ``helpers``) and outrank it by text similarity, and the context budget
is smaller than all of them together: only the symbol table puts the definition in the prompt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lsp_client import complete, indexed, log_lines, open_document, session

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

HELPERS_RS = ('pub fn parse_remote_config_file(location: &str, retries: u32) -> Config {\n'
              '    fetch(location, retries)\n'
              '}\n')
SETTINGS_JS = ('exports.loadRemoteConfigFile = function (location) {\n'
               '  return JSON.parse(location);\n'
               '};\n')


def padded(definition: str, extension: str) -> str:
    """A real module's shape: the definition comes after many others that share its words."""
    other = {
        ".py": ("def load_remote_section_{n}(location, section):\n"
                "    \"\"\"Load section {n} of the remote configuration.\"\"\"\n"
                "    return fetch(location + '/{n}', section)\n\n\n"),
        ".ts": "export function loadRemoteSection{n}(location: string): string {{\n"
               "  return fetch(location + '/{n}');\n}}\n\n",
        ".rs": ("/// Load section {n} of the remote configuration.\n"
                "pub fn load_remote_section_{n}(location: &str, section: u32) -> String {{\n"
                "    fetch(location, section + {n})\n}}\n\n"),
        ".js": "exports.loadRemoteSection{n} = function (location) {{\n  return fetch(location + '/{n}');\n}};\n\n",
    }[extension]
    return "".join(other.format(n=n) for n in range(25)) + definition


def client_class() -> str:
    """A class large enough to be chunked per method, its other methods first."""
    methods = "".join(f"    def fetch_user_setting_{n}(self, user_id):\n"
                      f"        return self.url + '/settings/{n}/' + str(user_id)\n\n" for n in range(30))
    return CLIENT.replace("    def fetch_user_profile", methods + "    def fetch_user_profile")


def rust_client() -> str:
    """A struct whose ``impl`` block holds the associated function typed, after many others."""
    methods = "".join(f"    pub fn connect_with_setting_{n}(url: &str, setting: u32) -> Self {{\n"
                      f"        Client {{ url: format!(\"{{}}/settings/{n}/{{}}\", url, setting) }}\n    }}\n\n"
                      for n in range(30))
    return ("pub struct Client {\n    url: String,\n}\n\nimpl Client {\n" + methods +
            "    pub fn connect_with_retries(url: &str, retries: u32) -> Self {\n"
            "        Client { url: url.to_string() }\n    }\n}\n")


def distractors(root: Path, extension: str) -> None:
    """Files full of the words near the cursor, none defining the typed name."""
    other = {
        ".py": "def parse_config_{number}_{n}(helpers, config):\n    helpers.parse(config, remote={n})\n"
               "    return helpers.config\n\n",
        ".ts": "export function parseConfig{number}x{n}(cfg: any, remote: number): any {{\n"
               "  return cfg.parse(remote + {n});\n}}\n",
        ".rs": "pub fn parse_config_{number}_{n}(helpers: &Helpers, config: &str) -> Config {{\n"
               "    helpers.parse(config, remote({n}));\n    helpers.config()\n}}\n",
        ".js": "exports.loadConfig{number}x{n} = function (cfg, remote) {{\n  return cfg.parse(remote + {n});\n}};\n",
    }[extension]
    for number in range(12):
        text = "".join(other.format(number=number, n=n) for n in range(6))
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
    "rust use of a module": ("src/main.rs",
                             "use crate::config::helpers;\n\nfn run() {\n    let settings = helpers::parse_re",
                             "pub fn parse_remote_config_file("),
    "rust associated function of a used type": ("src/main.rs", "use crate::net::client::Client;\n\nfn run() {\n"
                                                "    let client = Client::connect_with_r",
                                                "pub fn connect_with_retries("),
    "commonjs require of exports": ("web/app.js",
                                    "const cfg = require('./settings');\n\nconst settings = cfg.loadRemoteCo",
                                    "exports.loadRemoteConfigFile = function ("),
}


def with_code_between(text: str, extension: str) -> str:
    """The file's imports, then 40 lines of its own code, then the line being typed: the
    imports are out of the text the ranking reads around the cursor, as in a real file."""
    imports, typing = text.split("\n\n", 1)
    step = {".py": "def step_{n}(value):\n    return value + {n}\n\n\n",
            ".ts": "function step{n}(value: number): number {{\n  return value + {n};\n}}\n",
            ".rs": "fn step_{n}(value: u32) -> u32 {{\n    value + {n}\n}}\n",
            ".js": "function step{n}(value) {{\n  return value + {n};\n}}\n"}[extension]
    body = "".join(step.format(n=n) for n in range(10 if extension == ".py" else 13))
    return f"{imports}\n\n{body}\n{typing}"


def workspace(root: Path) -> None:
    for folder in ("pkg", "app", "lib", "web", "src/config", "src/net"):
        (root / folder).mkdir(parents=True)
    (root / "pkg/__init__.py").write_text("VERSION = '1.0'\n")
    (root / "pkg/helpers.py").write_text(padded(HELPERS, ".py"))
    (root / "pkg/client.py").write_text(client_class())
    (root / "web/config.ts").write_text(padded(CONFIG_TS, ".ts"))
    (root / "src/config/helpers.rs").write_text(padded(HELPERS_RS, ".rs"))
    # Other modules' names that the half-typed one also matches: only the path it is used
    # through (``helpers::``) tells them apart.
    (root / "src/legacy").mkdir()
    (root / "src/legacy/remote.rs").write_text("".join(
        f"pub fn parse_remote_{word}(data: &[u8]) -> Option<u32> {{\n    None\n}}\n\n"
        for word in ("cache", "cookie", "checksum", "credentials", "catalog")))
    (root / "src/net/client.rs").write_text(rust_client())
    (root / "web/settings.js").write_text(padded(SETTINGS_JS, ".js"))
    for extension in (".py", ".ts", ".rs", ".js"):
        distractors(root, extension)


def prompt_of(log: Path, request: int) -> str:
    [line] = log_lines(log, f"prompt id={request} ")
    return line


@pytest.mark.parametrize("budget_ms", [0, 400], ids=["whole prompt", "shortened first prompt"])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_definition_of_the_half_typed_name_is_in_the_first_prompt(fake_model, tmp_path, case, budget_ms):
    relative, text, definition = CASES[case]
    text = with_code_between(text, Path(relative).suffix)
    root = tmp_path / "repo"
    root.mkdir()
    workspace(root)
    document = root / relative
    document.write_text(text + "\n")
    log = tmp_path / "server.log"
    # The fake engine's tokens are bytes: 1,280 of them hold what 320 tokens of a real vocabulary
    # do (about 4 characters each). At 32,000 a second these prompts (about 3,000 bytes) take
    # 0.1 s, and a budget of 50 ms shortens them.
    options = {"context": {"maxTokens": 1280}, "completion": {"promptBudgetMs": budget_ms // 8, "maxTokens": 8}}
    async with session(fake_model + "?prefill=32000", root=root, options=options, args=("--log-file", str(log),
                                                                                        "-v")) as client:
        await indexed(client)
        open_document(client, text + "\n", uri=document.as_uri())
        lines = text.split("\n")
        await complete(client, document.as_uri(), len(lines) - 1, len(lines[-1]))
    prompt = prompt_of(log, 1)
    assert definition in prompt, f"{case}: the definition is missing from the prompt: {prompt[:2000]}"
    if budget_ms:
        assert " shortened " in log_lines(log, "completion id=1 ")[0], "this case is meant to test a shortened prompt"
