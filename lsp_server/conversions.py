"""Conversions between LSP types and the values the completion path takes.

Positions count in the client's units (UTF-16 by default); documents split lines as LSP does
(``infill_lsp.documents``). Everything past this module sees plain text, offsets and paths.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from infill_lsp.context import CursorSnapshot
from infill_lsp.extensions import ACCEPTED
from infill_lsp.keystroke import Answer, Spot
from infill_lsp.popup import ItemShape, item_shape, popup_item
from infill_lsp.workspace_context import WorkspaceContext


def path_of(uri: str) -> Path:
    """The file of a document URI (the URI itself when it names no file)."""
    return Path(to_fs_path(uri) or uri)


def spot_at(document, position: types.Position) -> Spot:
    """The request's place as a value, with the document's text split at the cursor once."""
    path = path_of(document.uri)
    return Spot(document.uri, document.version, position.line, position.character,
                cursor_at(document, document.offset_at_position(position)),
                document.language_id or path.suffix.lstrip(".") or "plaintext")


def cursor_at(document, offset: int) -> CursorSnapshot:
    """The snapshot of ``document``'s text at ``offset`` (code points)."""
    text = document.source
    return CursorSnapshot.of(text[:offset], text[offset:], path_of(document.uri))


def acceptance_command(answer: Answer) -> types.Command:
    """The command an editor runs when the user accepts the whole suggestion (``infill.accepted``)."""
    return types.Command(title="Infill: suggestion accepted", command=ACCEPTED,
                         arguments=[{"id": answer.suggestion_id, "chars": len(answer.text)}])


def acceptance_params(arguments) -> tuple[int, int, bool] | None:
    """``(id, chars, part)`` from the arguments of ``infill.accepted``, or None when malformed."""
    try:
        found = arguments[0]
        suggestion_id, chars, part = found["id"], found["chars"], found.get("part", False)
    except (IndexError, KeyError, TypeError, AttributeError):
        return None
    numbers = all(isinstance(value, int) and not isinstance(value, bool) for value in (suggestion_id, chars))
    return (suggestion_id, chars, part) if numbers and isinstance(part, bool) else None


def suggestion(answer: Answer, position: types.Position) -> types.InlineCompletionList:
    """One inline item inserted at the cursor (none for no text), carrying the acceptance command."""
    end = types.Position(position.line, position.character)
    items = [types.InlineCompletionItem(insert_text=answer.text, range=types.Range(position, end),
                                        command=acceptance_command(answer))] if answer.text else []
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


def popup_list(answer: Answer, spot: Spot | None, document, position: types.Position,
               shape: ItemShape) -> types.CompletionList:
    """The suggestion made at ``spot`` as one completion item whose edit replaces the typed part
    of the word (none for no text); incomplete, so that the editor asks again as the user types."""
    item = popup_item(answer.text, spot.cursor.line_prefix if spot is not None else "", shape)
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
        text_edit=types.TextEdit(range=types.Range(start, position), new_text=item.new_text),
        command=acceptance_command(answer))
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
