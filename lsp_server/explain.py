"""Why a suggestion did or did not appear at a spot: the answer to ``infill/explain``.

The server remembers the outcome of the last request per document; an editor's "why no
completion here?" command asks about the cursor, and gets a reason code plus one sentence a
user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from infill_lsp.gate import Verdict

MESSAGES = {
    "disabled": "Completions are turned off (setting completion.enabled).",
    "unknown_document": "The server does not know this document: the editor has not opened it with the server.",
    "secret_file": "This file looks like a secret (.env, keys, certificates): it is never sent to the model.",
    "ignored_file": "This file is ignored by .gitignore or .infillignore: its text never goes into a prompt.",
    "bad_position": "The position is outside the document.",
    "loading": "The model is still loading.",
    "no_model": "No model is loaded: {error}",
    "never_asked": "The editor has not asked for a suggestion here yet: type, or trigger one by hand "
                   "(in VS Code, automatic suggestions need editor.inlineSuggest.enabled).",
    "shown": "A suggestion of {chars} characters was returned here.",
    "empty_suggestion": "The model had nothing to add here: its suggestion was empty or only repeated the "
                        "text after the cursor.",
    "cancelled": "The request was cancelled because you typed on before the suggestion was ready.",
    "content_modified": "The document changed while the suggestion was being generated.",
    "engine_error": "The model failed on this request; the server log has the details.",
    "engine_unavailable": "The inference server could not serve this request: {error}",
    "no_model_at_request": "No model was loaded when the editor asked.",
    "held_back": "The confidence gate held back a suggestion of {chars} characters: {verdict}. Setting "
                 "completion.confidence 'off' shows every suggestion.",
}


@dataclass(frozen=True)
class Outcome:
    """How the last completion request of a document ended."""

    version: int | None
    line: int
    character: int
    reason: str
    """``shown`` or a code of :data:`MESSAGES`."""
    chars: int = 0
    verdict: Verdict | None = None
    """The confidence gate's, when it held the suggestion back."""


def explain(gate: str, loaded: bool, error: str | None, last: Outcome | None, version: int | None, line: int,
            character: int, problem: str | None = None) -> dict:
    """``{"reason", "message"}`` for the spot, from the most basic cause to the last request's.
    ``error``: why no model loaded; ``problem``: why the loaded engine cannot serve now."""
    if gate:
        reason = gate
    elif error:
        reason = "no_model"
    elif not loaded:
        reason = "loading"
    elif last is None or (last.version, last.line, last.character) != (version, line, character):
        reason = "never_asked"
    else:
        reason = last.reason
    verdict = last.verdict if last and reason == "held_back" else None
    message = MESSAGES.get(reason, reason).format(error=error or problem or "", chars=last.chars if last else 0,
                                                  verdict=verdict.explained() if verdict else "")
    answer = {"reason": reason, "message": message}
    if verdict is not None:
        answer.update(confidence=round(verdict.confidence, 3), threshold=round(verdict.threshold, 3))
    return answer
