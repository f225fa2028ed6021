"""The symbol table and what is at the cursor: pure functions and the index, without a model."""

from __future__ import annotations

import pytest

from infill_lsp.context.chunking import syntax_tree
from infill_lsp.context.cursor import AtCursor, Binding, at_cursor, constructed_class, import_bindings
from infill_lsp.context.index import RepoIndex
from infill_lsp.context.resolve import definitions_at_cursor
from infill_lsp.context.symbols import matches_typed, subwords, symbols_of


def names(path: str, text: str) -> list[tuple[str, str]]:
    return [(symbol.qualified, symbol.kind) for symbol in symbols_of(syntax_tree(path, text))]


def test_a_half_typed_name_matches_by_prefix_and_by_subwords():
    assert subwords("parseRemoteConfig") == subwords("parse_remote_config") == ["parse", "remote", "config"]
    assert subwords("HTTPServer2") == ["http", "server", "2"]
    assert matches_typed("parse_re", "parse_remote_config_file")
    assert matches_typed("parseRe", "parseRemoteConfigFile")
    assert matches_typed("parse_remote_c", "parse_remote_config_file")
    assert not matches_typed("pars_re", "parse_remote_config_file")  # only the last subword may be partial
    assert not matches_typed("remote", "parse_remote_config_file")
    assert not matches_typed("parse_remote_config_file_x", "parse_remote_config_file")


def test_python_symbols_include_members_constants_and_assignments():
    text = ("MAX_RETRIES = 3\ntimeout: float = 2.0\n\n@cache\ndef load(path):\n    return path\n\n"
            "class Client:\n    base_url = 'x'\n\n    def fetch_user(self, user_id):\n        return user_id\n")
    assert names("m.py", text) == [("MAX_RETRIES", "variable"), ("timeout", "variable"), ("load", "function"),
                                   ("Client", "class"), ("Client.base_url", "member"), ("Client.fetch_user", "member")]


def test_typescript_and_go_symbols_include_exports_and_types():
    text = ("export function parseConfig(text: string) { return 1; }\nexport const TIMEOUT = 30;\n"
            "export class Api { fetchUser(id: number) { } }\nexport interface Options { retries: number; }\n")
    assert names("m.ts", text) == [("parseConfig", "function"), ("TIMEOUT", "variable"), ("Api", "class"),
                                   ("Api.fetchUser", "member"), ("Options", "class")]
    go = "package x\nconst Answer = 42\nfunc Parse(p string) error { return nil }\ntype Server struct { Port int }\n"
    assert [name for name, _kind in names("m.go", go)] == ["Answer", "Parse", "Server"]


def test_rust_impl_members_and_commonjs_exports_are_symbols():
    rust = ("pub struct Client<T> { url: String }\nimpl<T> Client<T> {\n    pub fn new(url: &str) -> Self { todo!() "
            "}\n}\n"
            "impl Display for Client { fn fmt(&self) {} }\npub fn parse_remote(p: &str) {}\n")
    assert names("src/lib.rs", rust) == [("Client", "class"), ("Client.url", "member"), ("Client.new", "member"),
                                         ("Client.fmt", "member"), ("parse_remote", "function")]
    script = ("exports.loadSettings = function (path) { return 1; };\nmodule.exports.MAX_RETRIES = 3;\n"
              "module.exports = { buildHeaders: function () {}, 'timeoutMs': 30, arrow: () => 1 };\n")
    assert names("lib/config.js", script) == [("loadSettings", "function"), ("MAX_RETRIES", "variable"),
                                              ("buildHeaders", "function"), ("timeoutMs", "variable"),
                                              ("arrow", "function")]
    assert names("lib/server.js", "module.exports = function createServer(options) {};\n") == [
        ("createServer", "function")]


@pytest.mark.parametrize(("prefix", "expected"), [
    ("x = helpers.parse_re", AtCursor(("helpers",), "parse_re")),
    ("    a.b.c_", AtCursor(("a", "b"), "c_")),
    ("total = parse_re", AtCursor((), "parse_re")),
    ("print(value.", AtCursor(("value",), "")),
    ("x = ", AtCursor((), "")),
    ("    let c = net::Client::conn", AtCursor(("net", "Client"), "conn")),
])
def test_the_name_at_the_cursor_and_its_receiver(prefix, expected):
    assert at_cursor(prefix) == expected


def test_imports_bind_local_names_in_python_and_javascript():
    python = ("import os\nimport pkg.helpers as h\nimport a.b\nfrom pkg import helpers, other as o\n"
              "from . import tools\nfrom .mod import (alpha,\n    beta as b)\n")
    assert import_bindings(python) == {
        "helpers": Binding("pkg", "helpers"), "o": Binding("pkg", "other"), "tools": Binding(".", "tools"),
        "alpha": Binding(".mod", "alpha"), "b": Binding(".mod", "beta"), "os": Binding("os"),
        "h": Binding("pkg.helpers"), "a": Binding("a")}
    script = ("import {parseConfig as pc, other} from './config';\nimport * as cfg from \"./config\";\n"
              "import Thing, {x} from '../lib/thing';\nconst fs = require('fs');\n")
    assert import_bindings(script) == {
        "pc": Binding("./config", "parseConfig"), "other": Binding("./config", "other"), "cfg": Binding("./config"),
        "Thing": Binding("../lib/thing", "default"), "x": Binding("../lib/thing", "x"), "fs": Binding("fs")}
    rust = ("use crate::net::client::{Client, connect as dial, pool::{self, Pool}};\nuse super::helpers;\n"
            "pub use std::collections::HashMap;\nuse serde::Deserialize as _;\nuse glob::*;\n")
    assert import_bindings(rust) == {
        "Client": Binding("crate::net::client", "Client"), "dial": Binding("crate::net::client", "connect"),
        "pool": Binding("crate::net::client", "pool"), "Pool": Binding("crate::net::client::pool", "Pool"),
        "helpers": Binding("super", "helpers"), "HashMap": Binding("std::collections", "HashMap")}


def test_a_local_variable_made_from_a_class():
    assert constructed_class("client = Client(url)\nother = 3\n", "client") == "Client"
    assert constructed_class("const c = new api.Client();", "c") == "api.Client"
    assert constructed_class("def f(c: Client):\n    c.", "c") == "Client"
    assert constructed_class('def render(console: "Console"):\n    console.', "console") == "Console"
    assert constructed_class("c = make()\n", "d") is None


def test_the_symbol_table_follows_file_updates_and_resolves_imports():
    index = RepoIndex()
    index.update_file("pkg/__init__.py", "VERSION = 1\n")
    index.update_file("pkg/helpers.py", "def parse_remote_config_file(path):\n    return path\n")
    index.update_file("web/config.ts", "export function parseRemoteConfig(text: string) {\n  return text;\n}\n")

    def first_line(path: str, prefix: str) -> list[str]:
        return [chunk.text.split("\n")[0] for chunk in definitions_at_cursor(index, path, prefix, prefix)]

    assert first_line("app/main.py", "from pkg import helpers\nx = helpers.parse_re") == [
        "def parse_remote_config_file(path):"]
    assert first_line("pkg/main.py", "from . import helpers\nx = helpers.parse_re") == [
        "def parse_remote_config_file(path):"]
    # A bare half-typed name finds definitions in files of the same language only.
    assert first_line("app/main.py", "x = parse_re") == ["def parse_remote_config_file(path):"]
    index.update_file("pkg/helpers.py", "def parse_records(path):\n    return path\n")
    assert first_line("app/main.py", "from pkg import helpers\nx = helpers.parse_re") == ["def parse_records(path):"]
    index.remove_file("pkg/helpers.py")
    assert first_line("app/main.py", "x = parse_re") == []


def test_a_receiver_of_unknown_type_offers_matching_members_the_file_already_calls_first():
    index = RepoIndex()
    index.update_file("pkg/table.py", "class Table:\n    def add_row(self, *cells):\n        pass\n\n"
                                      "    def add_column(self, header):\n        pass\n")
    index.update_file("pkg/text.py", "class Text:\n    def add(self, other):\n        pass\n")
    text = "def build(table):\n    table.add_row('a')\n    table.add"
    found = [chunk.text for chunk in definitions_at_cursor(index, "app.py", text, text)]
    assert found and "def add_row" in found[0]  # one chunk holds the whole small class
    index.update_file("pkg/table.py", "class Table:\n" + "".join(
        f"    def add_{n}(self):\n        pass\n\n" for n in range(40)) + "    def add_row(self, *cells):\n"
                                                                          "        pass\n")
    found = [chunk.text for chunk in definitions_at_cursor(index, "app.py", text, text)]
    assert found[0].lstrip().startswith("def add_row")


def test_go_and_java_imports_resolve_to_their_package_and_class():
    index = RepoIndex()
    index.update_file("internal/config/load.go", "package config\n\nfunc ParseRemoteConfig(path string) error {\n"
                                                 "\treturn nil\n}\n")
    index.update_file("internal/config/types.go", "package config\n\ntype RemoteSettings struct {\n\tURL string\n}\n")
    index.update_file("internal/other/load.go", "package other\n\nfunc ParseRecords() {}\n")
    go = 'package main\n\nimport (\n\t"fmt"\n\tcfg "example.com/app/internal/config"\n)\n\nfunc main() {\n\tcfg.ParseRe'
    found = [chunk.text.split("\n")[0] for chunk in definitions_at_cursor(index, "cmd/main.go", go, go)]
    assert found == ["func ParseRemoteConfig(path string) error {"]
    go_type = go.replace("cfg.ParseRe", "cfg.RemoteSe")
    assert [c.path for c in definitions_at_cursor(index, "cmd/main.go", go_type,
                                                  go_type)] == ["internal/config/types.go"]

    index.update_file("src/main/java/com/acme/config/ConfigLoader.java",
                      "package com.acme.config;\n\npublic class ConfigLoader {\n"
                      "    public static Config loadFromFileSystem(String path) { return null; }\n}\n")
    index.update_file("src/main/java/com/acme/cache/Cache.java",
                      "package com.acme.cache;\n\npublic class Cache {\n"
                      "    public static Cache loadFromFile(String path) { return null; }\n}\n")
    java = "import com.acme.config.ConfigLoader;\n\nclass App {\n    void run() {\n        ConfigLoader.loadFr"
    found = [chunk.path for chunk in definitions_at_cursor(index, "src/main/java/com/acme/App.java", java, java)]
    assert found == ["src/main/java/com/acme/config/ConfigLoader.java"]


def test_rust_paths_and_commonjs_requires_resolve_to_their_files():
    index = RepoIndex()
    index.update_file("src/config/helpers.rs", "pub fn parse_remote_config_file(path: &str) -> u32 {\n    1\n}\n")
    index.update_file("src/net/client.rs", "pub struct Client {\n    url: String,\n}\n\nimpl Client {\n"
                                           "    pub fn connect_with_retries(url: &str) -> Self {\n        todo!()\n"
                                           "    }\n}\n")
    index.update_file("src/other.rs", "pub fn parse_records() {}\npub fn connect_now() {}\n")
    index.update_file("lib/config.js", "exports.loadSettingsFromDisk = function (path) {\n  return 1;\n};\n")
    index.update_file("lib/other.js", "function loadSomething() {}\n")

    def found(path: str, text: str) -> list[str]:
        return [chunk.path for chunk in definitions_at_cursor(index, path, text, text)]

    assert found("src/main.rs", "use crate::config::helpers;\nfn main() {\n    helpers::parse_re") == [
        "src/config/helpers.rs"]
    assert found("src/config/mod.rs", "use self::helpers;\nfn f() {\n    helpers::parse_re") == [
        "src/config/helpers.rs"]
    assert found("src/net/server.rs", "use super::super::config::helpers;\nfn f() {\n    helpers::parse_re") == [
        "src/config/helpers.rs"]
    assert found("src/main.rs", "use crate::net::client::Client;\nfn main() {\n    Client::conn") == [
        "src/net/client.rs"]
    assert found("app.js", "const config = require('./lib/config');\nconfig.loadSe") == ["lib/config.js"]


def test_an_import_resolved_before_its_file_existed_resolves_once_the_file_is_indexed():
    index = RepoIndex()
    index.update_file("app/main.py", "from pkg import helpers\n")
    assert index.resolve_import("app/main.py", "pkg.helpers") is None
    index.update_file("pkg/helpers.py", "def parse_remote_config_file(path):\n    return path\n")
    assert index.resolve_import("app/main.py", "pkg.helpers") == "pkg/helpers.py"
    assert index.package_files("example.com/app/internal/config") == []
    index.update_file("internal/config/load.go", "package config\n")
    assert index.package_files("example.com/app/internal/config") == ["internal/config/load.go"]
