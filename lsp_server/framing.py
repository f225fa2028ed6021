"""Reading LSP frames from stdin, and finding the way back after a broken one.

pygls's reader expects each header line to start at a line start. One frame whose
``Content-Length`` is shorter than its body leaves the rest of the body in the stream; that rest
has no line break, so it swallows the next frame's header, and every later header too: the
server would answer nothing more, forever, and the editor would wait with it. Here a header is
recognised wherever it appears in a line, the bytes before it are logged as lost (once per
break), and what follows is answered. When no header turns up within ``MOST_LOST_BYTES``, the
stream is not LSP at all: the server says so on stderr and exits, so that the editor restarts it.
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
    length, lost = 0, 0
    while True:
        line = await reader.readline()
        if not line:
            return
        header = HEADER.search(line)
        if header is not None:
            if header.start() or lost:
                lost += header.start()
                logger.warning("lost %d bytes of a broken frame; reading on at the next header", lost)
            length, lost = int(header.group(1)), 0
            continue
        if line.strip() == b"" and length:
            body = await reader.readexactly(length)
            length = 0
            if not body:
                return
            _handle(protocol, body)
        elif not length and line.strip() and not line.startswith(b"Content-Type:"):
            lost += len(line)
            if lost > MOST_LOST_BYTES:
                raise LostStream(f"no LSP header in the last {lost} bytes of stdin")


def _handle(protocol: JsonRPCProtocol, body: bytes) -> None:
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
