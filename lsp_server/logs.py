"""Logging setup, stdout hygiene, and the one log line each completion request ends with.

On stdio, fd 1 carries JSON-RPC and nothing else. :func:`claim_stdout` gives the protocol a
private duplicate of fd 1 and points fd 1 at stderr, so a stray ``print`` or a native library
writing to fd 1 ends up in the log instead of corrupting the stream.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import BinaryIO

completions = logging.getLogger("infill_lsp.completions")
"""The logger of the line each completion request ends with."""

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def claim_stdout() -> BinaryIO:
    """Return a private binary stream on the real stdout and redirect fd 1 to stderr."""
    sys.stdout.flush()
    private = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(private, "wb", buffering=0)


def setup_logging(verbosity: int, log_file: str | None) -> None:
    """INFO for Infill by default, DEBUG with -v, everything (llama.cpp, pygls) with -vv."""
    handler: logging.Handler = logging.FileHandler(log_file,
                                                   encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("infill_lsp").setLevel(logging.DEBUG if verbosity >= 1 else logging.INFO)


def log_completion(suggestion_id: int, uri: str, version: int | None, result, elapsed_ms: float, verdict) -> None:
    """The request's line in the log (``result``: a ``CompletionResult``; ``verdict``: the
    confidence gate's, or None); its text at debug level only (it is the user's code)."""
    stats = result.stats.summary() if result.stats else ""
    outcome = f"chars={len(result.text)}" if result.text else f"empty: {result.reason}"
    if verdict is not None:
        outcome += f" confidence={verdict.confidence:.3f}" + ("" if verdict.show else " held_back")
    if result.shortened:
        outcome += " shortened"
    completions.info("completion id=%d uri=%s version=%s mode=%s %s ms=%.0f %s",
                     suggestion_id, uri, version, result.mode, outcome, elapsed_ms, stats)
    completions.debug("completion id=%d text=%r", suggestion_id, result.text)
