"""What the server keeps per open document, in one object, and the open/change/close hooks.

Per document: the cancellation event of its request in flight (latest request wins: a new
request or an edit stops the old one within a token), the suggestions type-through can answer
from, how its last request ended (for ``infill/explain``) and its idle timer (the work planned
for when the user pauses). Closing a document drops all of it at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from infill_lsp.explain import Outcome
from infill_lsp.gate import Verdict
from infill_lsp.type_through import TypeThrough


@dataclass
class DocumentState:
    """One open document's state."""

    version: int | None = None
    """The version of the document's text the editor last sent."""
    type_through: TypeThrough = field(default_factory=TypeThrough)
    outcome: Outcome | None = None
    request: threading.Event | None = None
    """The cancellation event of the request in flight."""
    idle_timer: asyncio.TimerHandle | None = None

    def note(self, place: tuple[int | None, int, int], reason: str, chars: int = 0,
             verdict: Verdict | None = None) -> None:
        """Remember how the last request at ``place`` (version, line, character) ended (``shown`` or
        a reason code of ``explain``) and, when the confidence gate held the suggestion back, its verdict."""
        self.outcome = Outcome(*place, reason, chars, verdict)

    def begin_request(self) -> threading.Event:
        """Supersede the request in flight and return the new request's cancellation event."""
        self.cancel_request()
        self.request = threading.Event()
        return self.request

    def end_request(self, event: threading.Event) -> None:
        """``event``'s request is over (forgotten if it is still the live one)."""
        event.set()
        if self.request is event:
            self.request = None

    def cancel_request(self) -> None:
        """Stop the request in flight, if any."""
        if self.request is not None:
            self.request.set()
            self.request = None

    def after_idle(self, seconds: float, start: Callable[[], None]) -> None:
        """Call ``start()`` once the document has been quiet for ``seconds``; replaces the pending one."""
        self.cancel_idle()
        self.idle_timer = asyncio.get_running_loop().call_later(seconds, self._fire, start)

    def cancel_idle(self) -> None:
        """Forget the work waiting on the idle timer (the user acted first)."""
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def _fire(self, start: Callable[[], None]) -> None:
        self.idle_timer = None
        start()


class DocumentStates:
    """The state of every open document, by URI."""

    def __init__(self) -> None:
        self._states: dict[str, DocumentState] = {}

    def open(self, uri: str, version: int | None) -> None:
        """A document opened (again): its state starts afresh."""
        self.close(uri)
        self._states[uri] = DocumentState(version)

    def state(self, uri: str, version: int | None = None) -> DocumentState:
        """The document's state (created at ``version`` if the document was never opened here)."""
        state = self._states.get(uri)
        if state is None:
            state = self._states[uri] = DocumentState(version)
        return state

    def get(self, uri: str) -> DocumentState | None:
        return self._states.get(uri)

    def change(self, uri: str, version: int | None) -> None:
        """An edit: the request in flight is stale."""
        state = self.state(uri)
        state.version = version
        state.cancel_request()

    def close(self, uri: str) -> None:
        """Drop everything kept for the document."""
        state = self._states.pop(uri, None)
        if state is not None:
            state.cancel_request()
            state.cancel_idle()

    def close_all(self) -> None:
        """Shutdown: stop every request and timer."""
        for uri in list(self._states):
            self.close(uri)
