"""Pure chunking: a file's text → chunks aligned to its definitions.

With a tree-sitter grammar (from tree-sitter-language-pack) each top-level definition, and
each method of a large class, becomes one chunk; the statements between definitions are
grouped into line windows. Without a grammar the file is cut into line windows. Every chunk
knows the names it defines and the identifiers it uses, for ranking.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from dataclasses import dataclass

from infill_lsp.context.languages import language_of

logger = logging.getLogger(__name__)

WINDOW_LINES = 40
MAX_CHUNK_LINES = 80
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_KEYWORDS = frozenset(
    "and as assert async await break class continue def del elif else except false finally for from function "
    "global if import in is lambda none nonlocal not null or pass raise return self this true try var let const "
    "while with yield int str void static public private protected new struct impl pub use mod fn func type "
    "package interface enum switch case default include define the".split()
)
_DEFINITION_HINTS = ("function", "class", "method", "struct", "impl", "interface", "enum", "trait", "module",
                     "type_declaration", "decorated_definition", "namespace", "object_declaration")


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of one file."""

    path: str
    """Workspace-relative path, with forward slashes."""
    start_line: int
    end_line: int
    """Exclusive, 0-based."""
    text: str
    defines: frozenset[str]
    identifiers: tuple[str, ...]

    @functools.cached_property
    def key(self) -> tuple[str, int]:
        """Stable identity within an index generation (one shared tuple per chunk)."""
        return (self.path, self.start_line)


def identifiers_in(text: str) -> list[str]:
    """Identifiers worth matching on (no keywords, at least three characters)."""
    # Interned: the same names recur across thousands of chunks and postings.
    return [sys.intern(word) for word in IDENTIFIER.findall(text) if word.lower() not in _KEYWORDS]


@functools.lru_cache(maxsize=None)
def _parser(language: str):
    try:
        from tree_sitter_language_pack import get_parser

        return get_parser(language)
    except Exception as exc:  # a missing grammar only costs structure, never the file
        logger.debug("no tree-sitter grammar for %s: %s", language, exc)
        return None


def _make(path: str, lines: list[str], start: int, end: int, defines: frozenset[str] = frozenset()) -> Chunk:
    text = "".join(lines[start:end])
    return Chunk(path, start, end, text, defines, tuple(identifiers_in(text)))


def _windows(path: str, lines: list[str], start: int, end: int, size: int = WINDOW_LINES) -> list[Chunk]:
    chunks = []
    for first in range(start, end, size):
        last = min(end, first + size)
        if any(line.strip() for line in lines[first:last]):
            chunks.append(_make(path, lines, first, last))
    return chunks


def _exported(node):
    """The declaration inside ``export ...`` (JS/TS), else None."""
    if node.type != "export_statement":
        return None
    return node.child_by_field_name("declaration")


def _is_definition(node) -> bool:
    inner = _exported(node)
    if inner is not None:
        return _is_definition(inner)
    return node.is_named and any(hint in node.type for hint in _DEFINITION_HINTS)


def _name(node) -> str | None:
    target = _exported(node) or node
    if target.type == "decorated_definition":
        target = target.child_by_field_name("definition") or target
    name = target.child_by_field_name("name")
    return name.text.decode("utf-8", "replace") if name is not None else None


def _definition_chunks(path: str, lines: list[str], node) -> list[Chunk]:
    start, end = node.start_point[0], node.end_point[0] + 1
    name = _name(node)
    defines = frozenset({name}) if name else frozenset()
    if end - start <= MAX_CHUNK_LINES:
        return [_make(path, lines, start, end, defines)]
    # A large class: its header, then each member definition on its own.
    members = [child for child in _walk_members(node) if _is_definition(child)]
    if not members:
        return [_make(path, lines, first, min(end, first + MAX_CHUNK_LINES), defines)
                for first in range(start, end, MAX_CHUNK_LINES)]
    chunks = [_make(path, lines, start, min(members[0].start_point[0], start + WINDOW_LINES) or start + 1, defines)]
    for member in members:
        chunks.extend(_definition_chunks(path, lines, member))
    return chunks


def _walk_members(node):
    for child in node.children:
        if child.type in ("block", "class_body", "declaration_list", "body", "field_declaration_list"):
            yield from child.children
        elif _is_definition(child) and child is not node:
            yield child


def syntax_tree(path: str, text: str):
    """The tree-sitter root node of a file, or None (no grammar for its language, or a parse error)."""
    language = language_of(path)
    parser = _parser(language.grammar) if language is not None and language.grammar else None
    if parser is None:
        return None
    try:
        return parser.parse(text.encode("utf-8")).root_node
    except Exception:
        return None


def chunk_text(path: str, text: str, root=None) -> list[Chunk]:
    """Split one file into chunks (``path`` is workspace-relative, used for the language;
    ``root``: its :func:`syntax_tree`, when already parsed)."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return []
    root = root if root is not None else syntax_tree(path, text)
    if root is None:
        return _windows(path, lines, 0, len(lines))
    chunks: list[Chunk] = []
    cursor = 0
    for node in root.children:
        if not _is_definition(node):
            continue
        start = node.start_point[0]
        if start > cursor:
            chunks.extend(_windows(path, lines, cursor, start))
        chunks.extend(_definition_chunks(path, lines, node))
        cursor = max(cursor, node.end_point[0] + 1)
    if cursor < len(lines):
        chunks.extend(_windows(path, lines, cursor, len(lines)))
    return [chunk for chunk in chunks if chunk.end_line > chunk.start_line]
