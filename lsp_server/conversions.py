"""Conversions between LSP types and the values the completion path takes.

Positions count in the client's units (UTF-16 by default); documents split lines as LSP does
(``infill_lsp.documents``). Everything past this module sees plain text, offsets and paths.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from infill_lsp.completion_service import Spot
from infill_lsp.popup import ItemShape, item_shape, popup_item
from infill_lsp.workspace_context import WorkspaceContext


def path_of(uri: str) -> Path:
    """The file of a document URI (the URI itself when it names no file)."""
    return Path(to_fs_path(uri) or uri)


def spot_at(document, position: types.Position) -> Spot:
    """The request's place as a value (the document's text split at the cursor)."""
    text, offset = document.source, document.offset_at_position(position)
    return Spot(document.uri, document.version, position.line, position.character, path_of(document.uri),
                text[:offset], text[offset:])


def suggestion(text: str, position: types.Position) -> types.InlineCompletionList:
    """One inline item inserted at the cursor (none for no text)."""
    end = types.Position(position.line, position.character)
    items = [types.InlineCompletionItem(insert_text=text, range=types.Range(position, end))] if text else []
    return types.InlineCompletionList(items=items)


def item_shape_of(capabilities: types.ClientCapabilities) -> ItemShape:
    """How the client shows and inserts a completion item, from what it announced."""
    completion = capabilities.text_document.completion if capabilities.text_document else None
    item = completion.completion_item if completion else None
    if item is None:
        return item_shape(None, None)
    modes = item.insert_text_mode_support.value_set if item.insert_text_mode_support else None
    return item_shape([getattr(kind, "value", kind) for kind in item.documentation_format or ()],
                      [int(mode) for mode in modes] if modes is not None else None)


def popup_list(text: str, spot: Spot | None, document, position: types.Position,
               shape: ItemShape) -> types.CompletionList:
    """The suggestion made at ``spot`` as one completion item whose edit replaces the typed part
    of the word (none for no text); incomplete, so that the editor asks again as the user types."""
    prefix = spot.prefix if spot is not None else ""
    item = popup_item(text, prefix[max(prefix.rfind("\n"), prefix.rfind("\r")) + 1:], shape)
    if item is None or document is None:
        return types.CompletionList(is_incomplete=True, items=[])
    typed_units = document.position_codec.client_num_units(item.typed)
    start = types.Position(position.line, position.character - typed_units)
    fence = "```" + (document.language_id or "") + "\n" + item.new_text + "\n```"
    completion = types.CompletionItem(
        label=item.label, kind=types.CompletionItemKind.Text, detail="Infill",
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=fence) if shape.markdown
        else item.new_text,
        filter_text=item.new_text, sort_text="0", preselect=True,
        insert_text_format=types.InsertTextFormat.PlainText,
        insert_text_mode=types.InsertTextMode.AsIs if shape.as_is else types.InsertTextMode.AdjustIndentation,
        text_edit=types.TextEdit(range=types.Range(start, position), new_text=item.new_text))
    return types.CompletionList(is_incomplete=True, items=[completion])


def cursor_after(document, changes) -> int | None:
    """Where the cursor most likely is after ``changes``: the end of the last inserted text.

    Offsets are in the document's code points. Full-text changes say nothing about the cursor.
    """
    if not changes or not isinstance(changes[-1], types.TextDocumentContentChangePartial):
        return None
    last = changes[-1]
    try:
        return min(len(document.source), document.offset_at_position(last.range.start) + len(last.text))
    except (IndexError, ValueError):
        return None


def position_params(params) -> tuple[str, types.Position] | None:
    """``(uri, position)`` from the params of ``infill/explain`` and ``infill/warm``."""
    try:
        return params["textDocument"]["uri"], types.Position(int(params["position"]["line"]),
                                                             int(params["position"]["character"]))
    except (KeyError, TypeError, ValueError):
        return None


def refusal(document, position: types.Position, enabled: bool, context: WorkspaceContext) -> str:
    """The named reason a request at ``position`` gets no suggestion before any model work, or ''."""
    if not enabled:
        return "disabled"
    if document is None:
        return "unknown_document"
    privacy = context.privacy(path_of(document.uri))
    if privacy:
        return privacy
    lines = document.lines
    if position.line < 0 or position.character < 0 or position.line > len(lines):
        return "bad_position"
    if position.line == len(lines):
        return "" if position.character == 0 else "bad_position"
    line = lines[position.line].rstrip("\r\n")
    return "bad_position" if position.character > document.position_codec.client_num_units(line) else ""
