"""The suggestion as one completion item, for editors without inline completion.

Helix, Emacs with eglot, Sublime LSP, Kate, coc.nvim and Zed's generic language servers show
completions only in the popup. There the suggestion is one item whose edit replaces the part of
the current word already typed (so the editor's filtering keeps it), labelled with its first
line, with the whole text as documentation. Which way a client is served is decided once, from
its capabilities and ``completion.style``: "auto" never offers both to one editor, and "both"
answers the popup only for requests the editor marks as invoked (not for trigger characters),
for editors where the user opens the popup by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL_CHARS = 80
_WORD_TAIL = re.compile(r"[\w$]+$")


@dataclass(frozen=True)
class Offer:
    """How this client gets suggestions."""

    inline: bool
    popup: bool

    @property
    def popup_on_request_only(self) -> bool:
        """Ghost text covers typing; the popup item comes when the user invokes completion."""
        return self.inline and self.popup


def offer_for(style: str, client_has_inline: bool) -> Offer:
    """``completion.style`` ('auto', 'inline', 'popup' or 'both') for a client that does or does
    not advertise ``textDocument.inlineCompletion``. 'auto' serves inline where the client can
    show it, else the popup; 'inline' to a client without it still registers it (the client
    may be told so, it is not guessed)."""
    if style == "auto":
        return Offer(inline=client_has_inline, popup=not client_has_inline)
    return Offer(inline=style in ("inline", "both"), popup=style in ("popup", "both"))


@dataclass(frozen=True)
class ItemShape:
    """What the client's popup can show, and how it inserts an item's later lines."""

    markdown: bool = False
    """Documentation may be Markdown (else plain text, which every client shows)."""
    as_is: bool = True
    """The client inserts text as it is given. Without that it adds the cursor line's
    indentation to every later line (``adjustIndentation``), so those lines are sent without it."""


def item_shape(documentation_formats: list[str] | None, insert_text_modes: list[int] | None) -> ItemShape:
    """From ``completionItem.documentationFormat`` and ``insertTextModeSupport.valueSet``. A client
    that names no insert modes inserts text as given (Helix, Kate, eglot); one that lists them
    without asIs (1) adjusts indentation (Sublime LSP)."""
    return ItemShape(markdown="markdown" in (documentation_formats or ()),
                     as_is=insert_text_modes is None or 1 in insert_text_modes)


@dataclass(frozen=True)
class PopupItem:
    """One completion item, in plain values (the server's edge turns it into LSP types)."""

    label: str
    new_text: str
    """Replaces ``typed``, which ends at the cursor."""
    typed: str


def typed_word(line_prefix: str) -> str:
    """The part of the current identifier already typed before the cursor."""
    found = _WORD_TAIL.search(line_prefix)
    return found.group(0) if found else ""


def popup_item(text: str, line_prefix: str, shape: ItemShape = ItemShape()) -> PopupItem | None:
    """The item for suggestion ``text`` at a cursor after ``line_prefix`` (None for no text).

    The edit starts where the typed word starts, so that the item's text begins with what the
    user typed: editors filter and rank items by the word at the cursor, and would drop an item
    that does not begin with it. Later lines keep the indentation the model gave them, which is
    relative to column 0, so the item asks to be inserted as it is; for a client that always
    adjusts indentation, the cursor line's indentation is taken off them, as it will add it."""
    if not text.strip():
        return None
    word = typed_word(line_prefix)
    new_text = word + text
    indent = line_prefix[: len(line_prefix) - len(line_prefix.lstrip(" \t"))]
    if not shape.as_is and indent:
        first, *later = new_text.split("\n")
        new_text = "\n".join([first, *(line[len(indent):] if line.startswith(indent) else line for line in later)])
    first = new_text.split("\n", 1)[0].strip() or new_text.strip().split("\n", 1)[0]
    label = first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 1] + "…"
    return PopupItem(label, new_text, word)
