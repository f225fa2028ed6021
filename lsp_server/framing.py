"""Reading LSP frames from stdin, and finding the way back after a broken one.

pygls's reader expects each header line to start at a line start. One frame whose
``Content-Length`` is shorter than its body leaves the rest of the body in the stream; that rest
has no line break, so it swallows the next frame's header, and every later header too: the
server would answer nothing more, forever, and the editor would wait with it. Here a header is
recognised wherever it appears in a line, the bytes before it are logged as lost (once per
break), and what follows is answered. When no header turns up within ``MOST_LOST_BYTES``, the
stream is not LSP at all: the server says so on stderr and exits, so that the editor restarts it.

A header's word is never trusted with memory: a length over ``MOST_FRAME_BYTES`` is refused (the
bytes after it are lost until the next header), and a body is read in ``BODY_CHUNK`` pieces, so
memory grows only with bytes that really arrive. A body that is not JSON but holds the next
frame's header (its length was longer than what followed) gives that frame back to the reader.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from typing import BinaryIO

from pygls.io_ import StdinAsyncReader, StdoutWriter
from pygls.protocol import JsonRPCProtocol
from pygls.server import JsonRPCServer

logger = logging.getLogger(__name__)

HEADER = re.compile(rb"Content-Length:[ \t]*(\d+)[ \t]*\r?\n$")
MOST_LOST_BYTES = 1 << 20
"""Bytes without a header after which the stream is given up (a frame is rarely larger)."""


MOST_FRAME_BYTES = 64 << 20
"""Largest body accepted. LSP messages are rarely above a few MiB (a whole large file in didOpen);
a header above this is a framing bug or hostile, and allocating for it could take the server down."""
BODY_CHUNK = 1 << 20
"""Bytes read at a time while a body arrives."""
HEADER_SPAN = 64
"""Bytes of a header a read may have cut off, searched again with the next piece: a header line
(the name, a blank, a number of at most 20 digits, the line end) is shorter."""
_NEXT_HEADER = re.compile(rb"Content-Length:[ \t]*\d+[ \t]*\r?\n")
_HEADER_NAME = b"Content-Length:"
_HEADER_TAIL = re.compile(rb"Content-Length:[ \t]*\d*[ \t]*\r?\Z")


class LostStream(RuntimeError):
    """No header within ``MOST_LOST_BYTES``: the other end does not speak LSP (any more)."""


def serve_stdio(server: JsonRPCServer, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """pygls's stdio loop with :func:`read_frames` as its reader; returns the exit status."""
    server.protocol.set_writer(StdoutWriter(stdout))
    try:
        asyncio.run(read_frames(StdinAsyncReader(stdin, server.thread_pool), server.protocol))
    except LostStream as error:
        print(f"infill-lsp: {error}; exiting so that the editor can restart the server", file=sys.stderr)
        return 1
    except BrokenPipeError:
        logger.error("the editor closed the connection; exiting")
    except (KeyboardInterrupt, SystemExit):  # the exit notification ends the loop this way
        pass
    finally:
        server.shutdown()
    return 0


async def read_frames(reader: StdinAsyncReader, protocol: JsonRPCProtocol) -> None:
    """Hand each frame's message to ``protocol`` until stdin ends."""
    frames = _Held(reader)
    length, lost = 0, 0
    while True:
        line = await frames.readline()
        if not line:
            return
        header = HEADER.search(line)
        if header is not None:
            if header.start() or lost:
                lost += header.start()
                logger.warning("lost %d bytes of a broken frame; reading on at the next header", lost)
            if length:
                logger.warning("a frame has two Content-Length headers; the last one (%s) counts",
                               header.group(1).decode())
            length, lost = int(header.group(1)), 0
            continue
        if line.strip() == b"" and length:
            if length > MOST_FRAME_BYTES:
                logger.warning("refused a frame of %d bytes (more than %d); reading on at the next header",
                               length, MOST_FRAME_BYTES)
                length, skipped = 0, await frames.skip_to_header()
                logger.warning("skipped %d bytes of the refused frame", skipped)
                continue
            body, cut = await frames.read_body(length)
            length = 0
            if not body and not cut:
                return
            _handle(protocol, body, cut)
        elif not length and line.strip() and not line.startswith(b"Content-Type:"):
            if line.lower().startswith(b"content-length"):
                logger.warning("a Content-Length header that is no length: %r", line[:80])
            lost += len(line)
            if lost > MOST_LOST_BYTES:
                raise LostStream(f"no LSP header in the last {lost} bytes of stdin")


class _Held:
    """Stdin read in bounded pieces, with bytes given back: what a body whose length ran on
    swallowed of the frames after it."""

    def __init__(self, reader: StdinAsyncReader) -> None:
        self._reader = reader
        self._held = b""

    async def readline(self) -> bytes:
        while b"\n" not in self._held and len(self._held) <= MOST_LOST_BYTES:
            chunk = await self._some()
            if not chunk:
                break
            self._held += chunk
        end = self._held.find(b"\n") + 1 or len(self._held)
        line, self._held = self._held[:end], self._held[end:]
        return line

    async def read_body(self, length: int) -> tuple[bytes, bool]:
        """The ``length`` bytes of a body as they arrive, or fewer: up to the end of stdin, or up
        to a header inside them (then True: the rest stays to be read as the next frame)."""
        body = bytearray()
        while True:
            # Only the bytes just added, and a header's span before them, are searched: a large
            # body is scanned once, not once per piece.
            searched_from = max(0, len(body) - HEADER_SPAN)
            wanted = length - len(body)
            body += self._held[:wanted]
            self._held = self._held[wanted:]
            following = _NEXT_HEADER.search(body, searched_from)
            if following is not None:
                self._held = bytes(body[following.start():]) + self._held
                return bytes(body[:following.start()]), True
            if len(body) >= length:
                start = _header_start_at_end(body)
                if start is not None:  # ran into the first bytes of the next header
                    self._held = bytes(body[start:]) + self._held
                    return bytes(body[:start]), True
                return bytes(body), False
            self._held = await self._some()
            if not self._held:
                return bytes(body), False

    async def skip_to_header(self) -> int:
        """Drop bytes until a header line starts (kept to be read); returns how many were dropped."""
        dropped = 0
        while True:
            following = _NEXT_HEADER.search(self._held)
            if following is not None:
                dropped += following.start()
                self._held = self._held[following.start():]
                return dropped
            keep = min(len(self._held), HEADER_SPAN)  # a header split across two reads
            dropped += len(self._held) - keep
            self._held = self._held[len(self._held) - keep:]
            chunk = await self._some()
            if not chunk:
                return dropped + len(self._held)
            self._held += chunk

    async def _some(self) -> bytes:
        """What stdin has now, at most ``BODY_CHUNK`` bytes; waits for at least one ('' at its end)."""
        stdin = self._reader.stdin
        read = getattr(stdin, "read1", stdin.read)
        return await self._reader.loop.run_in_executor(self._reader.executor, read, BODY_CHUNK)


def _header_start_at_end(body: bytes) -> int | None:
    """Where the start of a header begins at the end of a body that is no message (a message
    ends with its closing brace), else None."""
    if body.rstrip().endswith(b"}"):
        return None
    named = body.rfind(_HEADER_NAME)
    if named >= 0 and _HEADER_TAIL.match(body, named):
        return named
    for start in range(max(0, len(body) - len(_HEADER_NAME)), len(body)):
        if _HEADER_NAME.startswith(body[start:]):
            return start
    return None


def _handle(protocol: JsonRPCProtocol, body: bytes, cut: bool) -> None:
    """``cut``: the body ended at the next frame's header, before its length."""
    if cut:
        logger.warning("a frame's length runs into the next frame, %d bytes on; that frame is read on", len(body))
    try:
        message = json.loads(body, object_hook=protocol.structure_message)
    except json.JSONDecodeError as error:
        # A body cut short or run long: the next header is found in what follows.
        logger.warning("a frame's body is not JSON (%s); it is skipped", error)
        return
    except Exception:  # valid JSON that is no message pygls knows how to read
        logger.exception("could not read a message")
        return
    try:
        protocol.handle_message(message)
    except Exception:
        logger.exception("could not handle a message")
