"""The definitions of what the user is typing: the half-typed name resolved through the file's
imports, its receiver's module or class, and the symbol table.

``definitions_at_cursor`` is what the ranking puts first: the definition of the name being
typed (``helpers.parse_re`` → ``parse_remote_config_file`` in ``pkg/helpers.py``), or, when the
receiver is an instance (``client = Client(); client.fe``), that class's matching members.
"""

from __future__ import annotations

import re

from infill_lsp.context.chunking import Chunk
from infill_lsp.context.cursor import AtCursor, Binding, at_cursor, constructed_class, import_bindings
from infill_lsp.context.index import RepoIndex
from infill_lsp.context.languages import family_of, is_rust_path
from infill_lsp.context.symbols import Symbol

MOST_DEFINITIONS = 3
_ENCLOSING_CLASS = re.compile(r"^[ \t]*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+([A-Za-z_$][\w$]*)",
                              re.MULTILINE)
MIN_TYPED = 2
LONG_DEFINITION_LINES = 30
"""A definition longer than this (and any class) goes in as its signature block."""
"""Shorter partial names match too much of the table to say anything."""


def definitions_at_cursor(index: RepoIndex, path: str, prefix: str, file_text: str,
                          bindings: dict[str, Binding] | None = None) -> list[Chunk]:
    """Chunks defining what is typed at the end of ``prefix`` in the file ``path``, best first
    (``bindings``: the file's :func:`import_bindings`, when the caller keeps them)."""
    cursor = at_cursor(prefix)
    if len(cursor.typed) < MIN_TYPED and not cursor.receiver:
        return []
    if bindings is None:
        bindings = import_bindings(file_text)
    found = _through_receiver(index, path, cursor, bindings, prefix) if cursor.receiver else _bare(index, path,
                                                                                                   cursor, bindings)
    # A name the file already uses is the likeliest one being typed again.
    found = sorted(found, key=lambda item: item[1].name + "(" not in file_text)
    chunks: dict[tuple[str, int], Chunk] = {}
    for where, symbol in found:
        long = symbol.kind == "class" or symbol.end_line - symbol.line > LONG_DEFINITION_LINES
        chunk = index.chunk_of(where, symbol, signature_only=long)
        if chunk is not None and chunk.key not in chunks:
            chunks[chunk.key] = chunk
        if len(chunks) >= MOST_DEFINITIONS:
            break
    return list(chunks.values())


def _bare(index: RepoIndex, path: str, cursor: AtCursor, bindings: dict[str, Binding]) -> list[tuple[str, Symbol]]:
    """A name typed on its own: an imported name first, then any top-level definition."""
    found = []
    for local, binding in bindings.items():
        if binding.name and local.startswith(cursor.typed):
            module = index.resolve_import(path, binding.module)
            found += index.symbols_matching(binding.name if binding.name != "default" else cursor.typed,
                                            paths=[module] if module else None)
    if len(cursor.typed) >= MIN_TYPED:
        found += _same_language(path, index.symbols_matching(cursor.typed))
    return found or _any_member(index, path, cursor.typed)


def _through_receiver(index: RepoIndex, path: str, cursor: AtCursor, bindings: dict[str, Binding],
                      prefix: str) -> list[tuple[str, Symbol]]:
    head, rest = cursor.receiver[0], cursor.receiver[1:]
    binding = bindings.get(head)
    if binding is not None and path.endswith(".go") and "/" in binding.module:
        # A Go package is a folder of files.
        return index.symbols_matching(cursor.typed, paths=index.package_files(binding.module)) if cursor.typed else []
    if binding is not None:
        module_file = _module_file(index, path, binding, rest)
        if module_file is not None and not cursor.typed:
            return []
        if module_file is not None:
            # A Java or Kotlin file is its class: what the receiver offers is that class's members.
            container = None if family_of(module_file) in ("java", "kotlin") else ""
            return index.symbols_matching(cursor.typed, paths=[module_file], container=container)
        if binding.name and not rest:  # ``from m import Class`` then ``Class.attr``
            return _members(index, path, binding.name, cursor.typed, bindings)
    if not rest and head in ("self", "this", "cls"):
        enclosing = _ENCLOSING_CLASS.findall(prefix)
        return index.symbols_matching(cursor.typed, paths=[path], container=enclosing[-1]) if enclosing else []
    if not rest:
        made_from = constructed_class(prefix, head)
        if made_from is not None:
            found = _members(index, path, made_from.split(".")[-1], cursor.typed, bindings)
            if found:
                return found
    # A receiver of unknown type: members of any class that match, those of the classes the file
    # imports first.
    return _any_member(index, path, cursor.typed, preferred={index.resolve_import(path, binding.module)
                                                             for binding in bindings.values()})


def _any_member(index: RepoIndex, path: str, typed: str,
                preferred: set[str | None] = frozenset()) -> list[tuple[str, Symbol]]:
    if len(typed) < MIN_TYPED:
        return []
    members = [(where, symbol) for where, symbol in _same_language(path, index.symbols_matching(typed, container=None))
               if symbol.kind == "member"]
    return sorted(members, key=lambda item: item[0] not in preferred)


def _same_language(path: str, found: list[tuple[str, Symbol]]) -> list[tuple[str, Symbol]]:
    family = family_of(path)
    return [(where, symbol) for where, symbol in found if family_of(where) == family]


def _module_file(index: RepoIndex, path: str, binding: Binding, rest: tuple[str, ...]) -> str | None:
    """The file a receiver names as a module: ``import a.b`` + ``a.b.x``, ``from pkg import mod``."""
    module = binding.module
    if binding.name is not None and binding.name != "default":
        module = _join(module, binding.name)  # ``from pkg import helpers``: a module if pkg/helpers exists
    for depth in range(len(rest), -1, -1):
        candidate = _join(module, ".".join(rest[:depth])) if depth else module
        found = index.resolve_import(path, candidate)
        if found is not None:
            return found
    return None


def _join(module: str, name: str) -> str:
    if is_rust_path(module):
        return f"{module}::{name}"
    if module.startswith((".", "/")) and ("/" in module or module.startswith("./") or module.startswith("../")):
        return f"{module.rstrip('/')}/{name}"
    return f"{module}{name}" if module.endswith(".") else f"{module}.{name}"


def _members(index: RepoIndex, path: str, class_name: str, typed: str,
             bindings: dict[str, Binding]) -> list[tuple[str, Symbol]]:
    """Members of ``class_name`` matching ``typed``: in the file it was imported from, else anywhere."""
    binding = bindings.get(class_name)
    module = index.resolve_import(path, binding.module) if binding is not None else None
    places = [module] if module else None
    if not typed:
        return []
    container = binding.name if binding and binding.name else class_name
    found = index.symbols_matching(typed, paths=places, container=container)
    return found or _same_language(path, index.symbols_matching(typed, container=class_name))
