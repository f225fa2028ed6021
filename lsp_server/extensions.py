"""Every protocol extension Infill speaks, in one place.

Standard LSP first: suggestions are answered through ``textDocument/inlineCompletion``
(LSP 3.18). On top of it, one opt-in extension:

``infill/partialCompletion`` (server → client notification)
    Streams a suggestion while it is generated. Sent only to clients that opted in, either by
    the client capability ``experimental.infill.partialCompletion = true`` or by the setting
    ``streaming = true``. Params (:class:`PartialCompletion`):

    - ``textDocument``: ``{uri, version}`` of the document the request was made on;
    - ``position``: the request's position;
    - ``text``: the whole suggestion so far (cumulative, never a delta), only text no later
      token can take back;
    - ``sequence``: increases with each notification for the document, across requests; a
      client drops a notification whose sequence is lower than one it has shown;
    - ``done``: true on the last one, sent just before the ``inlineCompletion`` response.

``infill/status`` (client → server request, no params)
    What an editor's status line, health check or "why no completion?" command needs:
    ``version``, ``model`` (path), ``loaded`` (bool), ``error`` (why no model, or null),
    ``mode`` (``fim-psm``, ``fim-spm`` or ``prefix-only``, null before the model loads),
    ``modeReason``, ``enabled``, ``indexedFiles`` and ``indexing`` (bool). How the index is
    kept fresh: ``watches`` (folders watched), ``pendingChanges`` (file changes queued or being
    applied), ``rescans`` (comparisons with the disk after lost events) and ``indexFingerprint``
    (a digest of the indexed paths and modification times, null before indexing starts).

``infill/explain`` (client → server request)
    Params ``{textDocument: {uri}, position}``. Answers ``{reason, message}``: why a suggestion
    did or did not appear there (completions off, secret file, model not loaded, never asked
    at this spot, the last request's outcome such as ``empty_suggestion`` or ``cancelled``).
    For an editor's "why no completion here?" command.

``infill/warm`` (client → server notification)
    Params ``{textDocument: {uri}, position}``. The document became active in the editor, or its
    cursor came to rest there: the server evaluates the prompt at that position in the
    background, so that the first keystroke finds it cached (llama.vim and llama.vscode warm the
    same way on buffer enter and cursor moves). Any request preempts it. Ignored for secret and
    ignored files, unknown documents, bad positions, and when ``completion.warmIdleMs`` is 0.

The server announces the extension under ``capabilities.experimental.infill``:
``{"partialCompletion": true, "status": true, "explain": true, "warm": true, "version": 1}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

EXPERIMENTAL_KEY = "infill"
PARTIAL_COMPLETION = "infill/partialCompletion"
STATUS = "infill/status"
EXPLAIN = "infill/explain"
WARM = "infill/warm"
EXTENSION_VERSION = 1


def server_experimental_capabilities() -> dict[str, Any]:
    """What the server puts under ``capabilities.experimental``."""
    return {EXPERIMENTAL_KEY: {"partialCompletion": True, "status": True, "explain": True, "warm": True,
                               "version": EXTENSION_VERSION}}


def client_wants_partials(experimental: Any) -> bool:
    """Whether the client's ``capabilities.experimental`` opts in to partial completions."""
    if not isinstance(experimental, dict):
        return False
    ours = experimental.get(EXPERIMENTAL_KEY)
    return isinstance(ours, dict) and ours.get("partialCompletion") is True


@dataclass(frozen=True)
class PartialCompletion:
    """Params of ``infill/partialCompletion``."""

    uri: str
    version: int | None
    line: int
    character: int
    text: str
    sequence: int
    done: bool

    def to_wire(self) -> dict[str, Any]:
        """The JSON params, in LSP's camelCase shape."""
        data = asdict(self)
        return {
            "textDocument": {"uri": data["uri"], "version": data["version"]},
            "position": {"line": data["line"], "character": data["character"]},
            "text": data["text"],
            "sequence": data["sequence"],
            "done": data["done"],
        }
