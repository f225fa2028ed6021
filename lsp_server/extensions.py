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
    - ``done``: true on the last one, sent just before the ``inlineCompletion`` response;
    - ``id``: the suggestion's id, for the acceptance command of an item built from this text.

    While the confidence gate is on (``completion.confidence`` not ``off``), the only
    notification of a request is its ``done`` one: the gate judges the whole first line first.

``infill/status`` (client → server request, no params)
    What an editor's status line, health check or "why no completion?" command needs:
    ``version``, ``model`` (path), ``loaded`` (bool), ``error`` (why no model, or null),
    ``mode`` (``fim-psm``, ``fim-spm`` or ``prefix-only``, null before the model loads),
    ``modeReason``, ``enabled``, ``indexedFiles`` and ``indexing`` (bool). How the index is
    kept fresh: ``watches`` (folders watched), ``pendingChanges`` (file changes queued or being
    applied), ``rescans`` (comparisons with the disk after lost events) and ``indexFingerprint``
    (a digest of the indexed paths and modification times, null before indexing starts).
    ``acceptance``: the local acceptance counts, one row per language and model:
    ``[{language, model, shown, accepted, partly, acceptedChars, heldBack, acceptedShare}]``.

``infill/explain`` (client → server request)
    Params ``{textDocument: {uri}, position}``. Answers ``{reason, message}``: why a suggestion
    did or did not appear there (completions off, secret file, model not loaded, never asked
    at this spot, the last request's outcome such as ``empty_suggestion``, ``cancelled`` or
    ``held_back``: the confidence gate's, with its ``confidence`` and ``threshold`` added).
    For an editor's "why no completion here?" command.

``infill/warm`` (client → server notification)
    Params ``{textDocument: {uri}, position}``. The document became active in the editor, or its
    cursor came to rest there: the server evaluates the prompt at that position in the
    background, so that the first keystroke finds it cached (llama.vim and llama.vscode warm the
    same way on buffer enter and cursor moves). Any request preempts it. Ignored for secret and
    ignored files, unknown documents, bad positions, and when ``completion.warmIdleMs`` is 0.

``infill.accepted`` (``workspace/executeCommand``)
    Arguments ``[{id, chars, part?}]``: the user accepted ``chars`` characters of suggestion
    ``id`` (``part``: a word or a line of it, not all of it). Every inline item and popup item
    the server returns carries this command with its ``id`` and whole length, so an editor that
    runs an item's command on acceptance (LSP 3.18) reports whole acceptances by itself; a client
    that accepts by word or line sends it with ``part: true``. The counts stay on the machine
    (see ``acceptance.py``) and move the confidence gate's threshold.

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
ACCEPTED = "infill.accepted"
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
    suggestion_id: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The JSON params, in LSP's camelCase shape."""
        data = asdict(self)
        return {
            "textDocument": {"uri": data["uri"], "version": data["version"]},
            "position": {"line": data["line"], "character": data["character"]},
            "text": data["text"],
            "sequence": data["sequence"],
            "done": data["done"],
            "id": data["suggestion_id"],
        }
