"""Server-sent events, parsed incrementally from the bytes an inference server streams."""

from __future__ import annotations


class SseParser:
    """Incremental server-sent-events parser: bytes in, each event's data out.

    Input may be split at any byte, inside a line ending or a UTF-8 sequence; lines end with
    LF, CRLF or CR; ``data:`` lines of one event are joined with LF; comments and other
    fields are skipped."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event completed by ``chunk``."""
        self._buffer += chunk
        events: list[str] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return events
            end, after = cut
            line = self._buffer[:end].decode("utf-8", "replace")
            self._buffer = self._buffer[after:]
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Where the first complete line of ``buffer`` ends and the next begins (None: incomplete).
    A CR at the very end is incomplete: an LF may follow in the next chunk."""
    for index, byte in enumerate(buffer):
        if byte == 0x0A:
            return index, index + 1
        if byte == 0x0D:
            if index + 1 == len(buffer):
                return None
            return index, index + (2 if buffer[index + 1] == 0x0A else 1)
    return None
