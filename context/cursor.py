"""What is at the cursor, from the text alone: the name being typed, what it is a member of,
and what the file's imports bind each local name to.

Pure functions over the prefix and the file text; the index resolves the results (see
:mod:`infill_lsp.context.resolve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TYPED = re.compile(r"((?:[A-Za-z_$][\w$]*\s*(?:\.|::)\s*)*)([A-Za-z_$][\w$]*)?$")
_PY_FROM = re.compile(r"^[ \t]*from[ \t]+([.\w]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)", re.MULTILINE)
_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.MULTILINE)
_JS_IMPORT = re.compile(r"""\bimport\s+(?:type\s+)?([^'";]+?)\s+from\s+['"]([^'"]+)['"]""")
_JS_REQUIRE = re.compile(r"""\b(?:const|let|var)\s+(\{[^}]*\}|[\w$]+)\s*=\s*require\(\s*['"]([^'"]+)['"]\s*\)""")
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_GO_IMPORTS = re.compile(r"^import\s*(?:\(([^)]*)\)|([^\n]+))", re.MULTILINE)
_GO_SPEC = re.compile(r"^\s*([\w.]+\s+)?\"([^\"]+)\"", re.MULTILINE)
_JAVA_IMPORT = re.compile(r"^import\s+([\w.]+)\.(\w+)\s*;", re.MULTILINE)
_RUST_USE = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.MULTILINE)
_RUST_ITEM = re.compile(r"^((?:\w+::)*)(\w+)(?:\s+as\s+(\w+))?$")


@dataclass(frozen=True)
class AtCursor:
    """The identifier being typed and the chain it hangs off: ``a.b.c_`` → (("a", "b"), "c_")."""

    receiver: tuple[str, ...]
    typed: str


@dataclass(frozen=True)
class Binding:
    """What an import binds a local name to: a module, or a name inside one."""

    module: str
    """As written: ``pkg.sub``, ``.helpers``, ``./config``."""
    name: str | None = None
    """The imported name (``from m import name``, ``import {name} from 'm'``); None for the module itself."""


def at_cursor(prefix: str) -> AtCursor:
    """The (possibly partial) identifier right before the cursor, and its receiver chain."""
    line = prefix[prefix.rfind("\n") + 1:]
    match = _TYPED.search(line)
    if match is None:
        return AtCursor((), "")
    chain = tuple(part.strip() for part in re.split(r"\.|::", match.group(1)) if part.strip())
    typed = match.group(2) or ""
    start = match.start()
    if start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_$"):
        return AtCursor((), "")
    return AtCursor(chain, typed)


def import_bindings(text: str) -> dict[str, Binding]:
    """Local name → what it was imported as (Python, JS/TS, Go, Java and Rust import forms)."""
    bindings: dict[str, Binding] = {}
    for module, names in _PY_FROM.findall(text):
        for name, alias in _pairs(names.strip("() \t"), " as "):
            if name != "*":
                bindings[alias] = Binding(module, name)
    for clause in _PY_IMPORT.findall(text):
        for name, alias in _pairs(clause, " as "):
            # ``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to ``a.b``.
            bound = name if alias != name else name.split(".")[0]
            bindings[alias if alias != name else bound] = Binding(bound)
    for clause, module in _JS_IMPORT.findall(text):
        _js_clause(clause.strip(), module, bindings, default="default")
    for clause, module in _JS_REQUIRE.findall(text):
        _js_clause(clause.strip(), module, bindings, default=None)  # ``require`` returns the module itself
    for block, single in _GO_IMPORTS.findall(text):
        for alias, path in _GO_SPEC.findall(block or single):
            local = alias.strip() or path.rstrip("/").rsplit("/", 1)[-1]
            if local not in ("_", "."):
                bindings[local] = Binding(path)
    for package, name in _JAVA_IMPORT.findall(text):  # Java and Kotlin: a class by its package
        bindings[name] = Binding(package, name)
    for tree in _RUST_USE.findall(text):
        _rust_use(" ".join(tree.split()), "", bindings)
    return bindings


def _rust_use(tree: str, base: str, bindings: dict[str, Binding]) -> None:
    """``use a::b::{c, d as e, f::{g}}``: each leaf is a name in its parent path, as
    ``from a.b import c`` is (the name may be a module or an item; the resolver tries both)."""
    brace = tree.find("{")
    if brace >= 0 and tree.endswith("}"):
        head = base + tree[:brace]
        depth, start = 0, brace + 1
        for index in range(brace + 1, len(tree) - 1):  # split the group on its own commas only
            depth += {"{": 1, "}": -1}.get(tree[index], 0)
            if tree[index] == "," and depth == 0:
                _rust_use(tree[start:index].strip(), head, bindings)
                start = index + 1
        _rust_use(tree[start:-1].strip(), head, bindings)
        return
    item = _RUST_ITEM.match(tree)
    if item is None or item.group(2) == "self" and not (base + item.group(1)):
        return
    path, name, alias = (base + item.group(1)).rstrip(":"), item.group(2), item.group(3)
    if name == "self":  # ``use a::b::{self}`` binds ``b`` to the module
        path, _, name = path.rpartition("::")
    if alias != "_" and path:
        bindings[alias or name] = Binding(path, name)


def _pairs(names: str, separator: str) -> list[tuple[str, str]]:
    pairs = []
    for part in names.replace("\n", " ").split(","):
        pieces = [piece.strip() for piece in part.split(separator)]
        if pieces and pieces[0] and _NAME.fullmatch(pieces[0].replace(".", "_")):
            pairs.append((pieces[0], pieces[-1] if len(pieces) > 1 and pieces[-1] else pieces[0]))
    return pairs


def _js_clause(clause: str, module: str, bindings: dict[str, Binding], *, default: str | None) -> None:
    named = re.search(r"\{([^}]*)\}", clause)
    if named:
        for name, alias in _pairs(named.group(1).replace("type ", ""), " as "):
            bindings[alias] = Binding(module, name)
        clause = clause[:named.start()] + clause[named.end():]
    namespace = re.search(r"\*\s+as\s+([\w$]+)", clause)
    if namespace:
        bindings[namespace.group(1)] = Binding(module)
        clause = clause[:namespace.start()] + clause[namespace.end():]
    whole = _NAME.search(clause.strip(" ,"))
    if whole:
        bindings[whole.group(0)] = Binding(module, default)


def constructed_class(prefix: str, variable: str) -> str | None:
    """The class a local variable was last made from in the text before the cursor:
    ``x = Client(...)``, ``const x = new Client(...)``, ``x: Client``, ``x: "Client"``."""
    name = re.escape(variable)
    pattern = (rf"(?:^|[^\w.$]){name}\s*(?::\s*[\"']?([A-Za-z_$][\w$.]*)[^=\n]*)?=\s*(?:new\s+|await\s+)?"
               rf"([A-Za-z_$][\w$.]*)\s*\(|(?:^|[^\w.$]){name}\s*:\s*[\"']?([A-Za-z_$][\w$.]*)")
    found = None
    for match in re.finditer(pattern, prefix):
        found = match.group(1) or match.group(2) or match.group(3)
    return found
