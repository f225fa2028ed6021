"""Latest request wins, per document.

Each in-flight suggestion owns a ``threading.Event`` that the inference thread checks between
tokens. Starting a new request for a document, or editing it, sets the event of the one in
flight, which then stops within one token (or one prompt chunk).
"""

from __future__ import annotations

import threading


class LatestWins:
    """Tracks the one live cancellation event per document URI."""

    def __init__(self) -> None:
        self._live: dict[str, threading.Event] = {}

    def begin(self, key: str) -> threading.Event:
        """Supersede whatever runs for ``key`` and return the new request's event."""
        self.cancel(key)
        event = threading.Event()
        self._live[key] = event
        return event

    def end(self, key: str, event: threading.Event) -> None:
        """Forget ``event`` if it is still the live one for ``key``."""
        event.set()
        if self._live.get(key) is event:
            del self._live[key]

    def cancel(self, key: str) -> bool:
        """Stop the request in flight for ``key``; True if there was one."""
        event = self._live.pop(key, None)
        if event is None:
            return False
        event.set()
        return True

    def busy(self) -> bool:
        """Whether any request is in flight."""
        return bool(self._live)

    def cancel_all(self) -> None:
        """Stop every request in flight (shutdown)."""
        for key in list(self._live):
            self.cancel(key)
