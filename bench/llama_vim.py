"""llama-server as llama.vim drives it, for side-by-side quality runs.

llama.vim sends the lines around the cursor (256 before, 64 after, the cursor's line split at
the cursor) to llama-server's ``/infill``, at most 128 tokens, with no stop string, and then
cuts the raw answer with a few rules before showing it (:func:`shown`). A model without FIM
tokens cannot use ``/infill``; then the same lines before the cursor go to ``/completion``, as
prefix-only. Sampling is greedy (``top_k`` 1), as Infill's default temperature 0 is, so that two
rows differ only in what is sent and how the answer is cut.
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

from bench.llama_server import LlamaServer

PREFIX_LINES, SUFFIX_LINES, PREDICT = 256, 64, 128
REQUEST = {"n_predict": PREDICT, "stop": [], "top_k": 1, "top_p": 0.90, "samplers": ["top_k", "top_p", "infill"],
           "stream": False, "cache_prompt": True, "t_max_prompt_ms": 500, "t_max_predict_ms": 1000}


def shown(content: str, line_prefix: str, line_suffix: str, lines_after: list[str]) -> str:
    """What llama.vim inserts at the cursor for a raw answer (the line's suffix stays after it);
    ``lines_after``: the lines below the cursor's line."""
    lines = content.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return ""
    if not (line_prefix + line_suffix).strip():
        # On a blank line, the answer's indentation overlaps the line's own.
        lead = min(len(lines[0]) - len(lines[0].lstrip()), len(line_prefix))
        lines[0] = lines[0][lead:]
    if lines == [""] or (lines[0] == "" and lines[1:] == lines_after[: len(lines) - 1]):
        return ""
    if len(lines) == 1 and lines[0] == line_suffix:
        return ""
    # The answer repeats the next non-blank line (and maybe the ones after it).
    below = list(lines_after)
    while below and not below[0].strip():
        below.pop(0)
    if below and line_prefix + lines[0] == below[0]:
        rest, following = lines[1:], below[1:]
        if not rest:
            return ""
        if len(rest) == 1 and following and following[0].startswith(rest[0]):
            return ""
        if len(rest) > 1 and rest == following[: len(rest)]:
            return ""
    return "\n".join(lines)


class LlamaVimPeer:
    """One llama-server with the model; :meth:`complete` answers a hole as llama.vim would."""

    def __init__(self, model: Path, threads: int, log: Path, extra: list[str] = ()) -> None:
        """``extra``: more llama-server flags (``-ngl 99`` on a GPU build given as ``$LLAMA_SERVER``)."""
        args = ["-c", "8192", "-t", str(threads), "-np", "1", "--cache-reuse", "256", *extra]
        self.server = LlamaServer(model, args=args, log=log).start()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        self.endpoint = "/infill"

    def _post(self, path: str, body: dict) -> tuple[int, dict]:
        self.connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def complete(self, prefix: str, suffix: str) -> tuple[str, float, int]:
        """The text inserted at the hole, the wall time in ms and the tokens generated."""
        before, after = prefix.split("\n"), suffix.split("\n")
        line_prefix, line_suffix, lines_after = before[-1], after[0], after[1:]
        head = "".join(line + "\n" for line in before[:-1][-PREFIX_LINES:])
        tail = line_suffix + "\n" + "".join(line + "\n" for line in lines_after[:SUFFIX_LINES])
        indent = len(line_prefix) - len(line_prefix.lstrip())
        started = time.perf_counter()
        if self.endpoint == "/infill":
            body = {**REQUEST, "input_prefix": head, "input_suffix": tail, "input_extra": [], "prompt": line_prefix,
                    "n_indent": indent}
            status, answer = self._post("/infill", body)
            if status != 200:  # a model without FIM tokens: prefix-only from now on
                self.endpoint = "/completion"
        if self.endpoint == "/completion":
            status, answer = self._post("/completion", {**REQUEST, "prompt": head + line_prefix, "n_indent": indent})
            if status != 200:
                raise RuntimeError(f"llama-server answered {status}: {answer}")
        elapsed = (time.perf_counter() - started) * 1000
        generated = int(answer.get("tokens_predicted") or answer.get("timings", {}).get("predicted_n") or 0)
        return shown(answer.get("content", ""), line_prefix, line_suffix, lines_after), elapsed, generated

    def close(self) -> None:
        self.connection.close()
        self.server.stop()
