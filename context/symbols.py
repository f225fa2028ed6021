"""The names a file defines, and how a half-typed name matches them.

From the same tree-sitter tree the chunker uses: functions, classes and their methods and
fields (Rust: those of ``impl`` blocks), module-level assignments and constants, and what JS/TS
files export, CommonJS assignments to ``exports`` included. Each symbol knows
its qualified name (``Client.fetch_user``) and its lines, so the index can hand out the chunk
that holds it, or just its signature when the budget is tight.

Matching is by prefix and by subword: ``parse_re`` and ``parseRe`` both match
``parse_remote_config_file``; every typed subword but the last must be whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIGNATURE_LINES = 6
"""Lines of a definition that make its signature block (the header and the start of its docstring)."""
SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
"""One subword of an identifier: ``HTTP``, ``Server``, ``2``; ``parse``, ``remote``."""
_DEFINITION = ("function", "class", "method", "struct", "interface", "enum", "trait", "type_alias",
               "type_declaration", "impl")
_BODIES = ("block", "class_body", "declaration_list", "body", "field_declaration_list", "interface_body",
           "enum_body", "object_type")
_DECLARATIONS = ("lexical_declaration", "variable_declaration", "const_declaration", "var_declaration",
                 "const_item", "static_item", "field_declaration", "public_field_definition")
_WRAPPERS = ("export_statement", "decorated_definition", "ambient_declaration")


@dataclass(frozen=True)
class Symbol:
    """One defined name."""

    name: str
    qualified: str
    """``Class.member`` for members, else the name."""
    kind: str
    """``function``, ``class``, ``member`` or ``variable``."""
    line: int
    end_line: int
    """0-based; ``end_line`` exclusive."""


def subwords(name: str) -> list[str]:
    """``parse_remote_config`` and ``parseRemoteConfig`` → ``["parse", "remote", "config"]``."""
    return [word.lower() for word in SUBWORD.findall(name)]


def matches_typed(typed: str, name: str) -> bool:
    """Whether ``name`` is what a user who typed ``typed`` is writing (prefix or subword prefix)."""
    if not typed or len(typed) >= len(name) and typed != name:
        return False
    if name.startswith(typed):
        return True
    wanted, have = subwords(typed), subwords(name)
    if not wanted or len(wanted) > len(have):
        return False
    *whole, last = wanted
    return have[:len(whole)] == whole and have[len(whole)].startswith(last)


def head_of(name: str) -> str:
    """The bucket a name is filed under for lookup: its first two letters, lower case."""
    words = subwords(name)
    return (words[0] if words else name.lower())[:2]


def symbols_of(root) -> list[Symbol]:
    """The symbols of a parsed file (``root``: its tree-sitter root node)."""
    found: list[Symbol] = []
    for node in root.children:
        _collect(_unwrap(node), "", found, top=True)
    return found


def _unwrap(node):
    while node.type in _WRAPPERS:
        inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration")
        if inner is None:
            inner = next((child for child in node.named_children if child.type not in ("decorator", "comment")), None)
        if inner is None:
            return node
        node = inner
    return node


def _text(node) -> str:
    return node.text.decode("utf-8", "replace")


def _collect(node, container: str, found: list[Symbol], *, top: bool) -> None:
    kind = node.type
    if kind == "impl_item":  # Rust: ``impl Client`` and ``impl Trait for Client`` add members to Client
        target, body = node.child_by_field_name("type"), node.child_by_field_name("body")
        name = _text(target).split("<")[0].rsplit("::", 1)[-1] if target is not None else ""
        if name and body is not None and not container:
            for member in body.named_children:
                _collect(_unwrap(member), name, found, top=False)
        return
    if kind == "expression_statement" and top and node.named_children:
        if _add_commonjs_exports(node.named_children[0], found):
            return
    if any(hint in kind for hint in _DEFINITION) and node.is_named:
        name = node.child_by_field_name("name") or next(
            (child.child_by_field_name("name") for child in node.named_children if child.child_by_field_name("name")),
            None)  # Go: type_declaration → type_spec
        if name is None:
            return
        text = _text(name)
        is_class = any(hint in kind for hint in ("class", "struct", "interface", "enum", "trait", "impl"))
        found.append(Symbol(text, f"{container}.{text}" if container else text,
                            "class" if is_class else ("member" if container else "function"),
                            node.start_point[0], node.end_point[0] + 1))
        if is_class and not container:
            for body in node.children:
                if body.type in _BODIES:
                    for member in body.named_children:
                        _collect(_unwrap(member), text, found, top=False)
        return
    if kind in _DECLARATIONS:
        named = node.child_by_field_name("name")
        for declarator in [named] if named is not None else node.named_children:
            _add_variable(declarator.child_by_field_name("name") or declarator, node, container, found)
    elif top or container:
        if kind == "expression_statement" and node.named_children:
            node = node.named_children[0]
        if node.type in ("assignment", "typed_assignment"):
            _add_variable(node.child_by_field_name("left"), node, container, found)


def _add_commonjs_exports(expression, found: list[Symbol]) -> bool:
    """``exports.name = …``, ``module.exports.name = …`` and ``module.exports = {name, other: …}``
    (or ``= function name() …``): the names a CommonJS module exports."""
    if expression.type != "assignment_expression":
        return False
    left, right = expression.child_by_field_name("left"), expression.child_by_field_name("right")
    if left is None or right is None or left.type != "member_expression":
        return False
    owner, exported = _text(left.child_by_field_name("object")), left.child_by_field_name("property")
    statement = expression.parent
    if owner in ("exports", "module.exports") and exported is not None:
        kind = "function" if "function" in right.type else "variable"
        name = _text(exported)
        found.append(Symbol(name, name, kind, statement.start_point[0], statement.end_point[0] + 1))
        return True
    if _text(left) != "module.exports":
        return False
    if right.type == "object":
        for pair in right.named_children:
            key = pair.child_by_field_name("key") if pair.type == "pair" else None
            if key is not None and key.type in ("property_identifier", "string"):
                name = _text(key).strip("'\"")
                found.append(Symbol(name, name, "function" if "function" in pair.child_by_field_name("value").type
                                    else "variable", pair.start_point[0], pair.end_point[0] + 1))
    elif right.child_by_field_name("name") is not None:
        name = _text(right.child_by_field_name("name"))
        found.append(Symbol(name, name, "function", statement.start_point[0], statement.end_point[0] + 1))
    return True


def _add_variable(name, statement, container: str, found: list[Symbol]) -> None:
    if name is None or name.type not in ("identifier", "property_identifier", "field_identifier"):
        return
    text = _text(name)
    found.append(Symbol(text, f"{container}.{text}" if container else text, "member" if container else "variable",
                        statement.start_point[0], statement.end_point[0] + 1))
