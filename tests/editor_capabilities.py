"""What each editor of docs/editors.md announces at ``initialize``, and how it asks for completion:
the parts that decide how Infill answers (inline completion or not, the completion item's
documentation format and insert modes, position encodings, the request's context), written from
each editor's client source. Each entry says where it was read."""

from __future__ import annotations

from dataclasses import dataclass, field

INVOKED = {"triggerKind": 1}


@dataclass(frozen=True)
class Editor:
    name: str
    capabilities: dict
    source: str
    """Where the capabilities were read."""
    options: dict = field(default_factory=dict)
    """The recipe's initializationOptions (docs/editors.md)."""
    context: dict | None = None
    """The CompletionContext it sends (None: it sends none)."""
    inline: bool = False
    """The recipe asks for ghost text instead of the popup."""


EDITORS = [
    Editor("Helix", source="helix-editor/helix, helix-lsp/src/client.rs, Client::initialize", context=INVOKED,
           capabilities={
               "textDocument": {"completion": {"completionItem": {
                   "snippetSupport": True, "insertReplaceSupport": True, "deprecatedSupport": True,
                   "resolveSupport": {"properties": ["documentation", "detail", "additionalTextEdits"]},
                   "tagSupport": {"valueSet": [1]}}, "completionItemKind": {}}},
               "window": {"workDoneProgress": True},
               "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]}}),
    Editor("Emacs lsp-mode", source="lsp-mode's lsp--client-capabilities, as sent by lsp-mode 20260716",
           context=INVOKED, options={"completion": {"style": "inline"}}, inline=True,
           capabilities={
               "textDocument": {"completion": {"completionItem": {
                   "snippetSupport": False, "documentationFormat": ["markdown", "plaintext"],
                   "insertReplaceSupport": True, "insertTextModeSupport": {"valueSet": [1, 2]},
                   "labelDetailsSupport": True, "deprecatedSupport": True,
                   "resolveSupport": {"properties": ["documentation", "detail", "additionalTextEdits", "command"]}},
                   "contextSupport": True, "dynamicRegistration": True},
                   # lsp-mode sends the key with null unless lsp-inline-completion is loaded.
                   "inlineCompletion": None},
               "window": {"workDoneProgress": True},
               "general": {"positionEncodings": ["utf-32", "utf-8", "utf-16"]}}),
    Editor("Sublime LSP", source="sublimelsp/LSP, plugin/core/sessions.py, get_initialize_params",
           capabilities={
               "textDocument": {"completion": {"dynamicRegistration": True, "completionItem": {
                   "snippetSupport": True, "deprecatedSupport": True, "documentationFormat": ["markdown", "plaintext"],
                   "tagSupport": {"valueSet": [1]},
                   "resolveSupport": {"properties": ["detail", "documentation", "additionalTextEdits"]},
                   # adjustIndentation only: Sublime re-indents every inserted line after the first.
                   "insertTextModeSupport": {"valueSet": [2]}, "labelDetailsSupport": True},
                   "insertTextMode": 2}},
               "window": {"workDoneProgress": True},
               "general": {"regularExpressions": {"engine": "ECMAScript"}}}),
    Editor("Kate", source="KDE/kate, addons/lspclient/lspclientserver.cpp, the initialize request",
           capabilities={
               "textDocument": {"completion": {"completionItem": {
                   "snippetSupport": True, "resolveSupport": {"properties": ["additionalTextEdits", "documentation"]}}},
                   "hover": {"contentFormat": ["markdown", "plaintext"]}},
               "window": {"workDoneProgress": True}}),
    Editor("coc.nvim", source="neoclide/coc.nvim, src/language-client/completion.ts, fillClientCapabilities "
           "(documentationFormat is the client's supportedMarkupKind; plaintext here, the stricter)",
           context=INVOKED,
           capabilities={
               "textDocument": {"completion": {"dynamicRegistration": True, "contextSupport": True, "completionItem": {
                   "snippetSupport": True, "commitCharactersSupport": True, "documentationFormat": ["plaintext"],
                   "deprecatedSupport": True, "preselectSupport": True, "insertReplaceSupport": True,
                   "tagSupport": {"valueSet": [1]},
                   "resolveSupport": {"properties": ["documentation", "detail", "additionalTextEdits"]},
                   "labelDetailsSupport": True, "insertTextModeSupport": {"valueSet": [1, 2]}},
                   "insertTextMode": 2,
                   "completionList": {"itemDefaults": ["commitCharacters", "editRange", "insertTextFormat",
                                                       "insertTextMode"]}}}}),
    Editor("Zed", source="zed-industries/zed, crates/lsp/src/lsp.rs, default_initialize_params", context=INVOKED,
           capabilities={
               "textDocument": {"completion": {"completionItem": {
                   "snippetSupport": True,
                   "resolveSupport": {"properties": ["additionalTextEdits", "command", "documentation"]},
                   "insertReplaceSupport": True, "labelDetailsSupport": True},
                   "completionList": {"itemDefaults": ["commitCharacters", "editRange", "insertTextMode",
                                                       "insertTextFormat", "data"]},
                   "contextSupport": True},
                   "hover": {"contentFormat": ["markdown"]}},
               "window": {"workDoneProgress": True}}),
]
