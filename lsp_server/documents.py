"""Open documents as the client numbers their lines: only ``\\n``, ``\\r\\n`` and ``\\r`` end a line.

pygls splits a document with ``str.splitlines``, which also breaks lines at form feeds,
vertical tabs, ``\\x1c``–``\\x1e``, ``\\x85``, U+2028 and U+2029. LSP positions count only the
three real line breaks, so in a file holding any of those characters (a form feed is common in
C and Python sources) every position after it pointed at another place: incremental edits were
applied at the wrong spot and the server's copy of the file drifted from the editor's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lsprotocol.types import TextDocumentSyncKind
from pygls.workspace import TextDocument, Workspace

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_NOT_LSP_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def lsp_lines(text: str) -> tuple[str, ...]:
    """The lines of ``text`` with their line breaks, split as LSP does."""
    if not any(character in text for character in _NOT_LSP_BREAKS):
        return tuple(text.splitlines(True))  # the same split, four times faster than the pattern
    return tuple(_LINE.findall(text))


class LspTextDocument(TextDocument):
    """Lines split as LSP does, computed once per version of the text (pygls asks several times
    per keystroke, and splitting a 200 KB file takes a millisecond or more)."""

    _split: tuple[str, tuple[str, ...]] | None = None

    @property
    def lines(self) -> Sequence[str]:
        source = self.source
        if self._split is None or self._split[0] is not source:
            self._split = (source, lsp_lines(source))
        return self._split[1]


class LspWorkspace(Workspace):
    """pygls's workspace with documents that split lines as LSP does."""

    @classmethod
    def like(cls, workspace: Workspace, sync_kind: TextDocumentSyncKind) -> LspWorkspace:
        """A fresh workspace with the same root, folders and position encoding."""
        return cls(workspace.root_uri, sync_kind, list(workspace.folders.values()), workspace.position_encoding)

    def _create_text_document(self, doc_uri: str, source: str | None = None, version: int | None = None,
                              language_id: str | None = None) -> TextDocument:
        return LspTextDocument(doc_uri, source=source, version=version, language_id=language_id,
                               sync_kind=self._sync_kind, position_codec=self._position_codec)
