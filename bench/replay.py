"""A typing session and the two clients that replay it: Infill over stdio, llama-server over HTTP.

The session retypes three consecutive lines deep inside a real source file: a newline with
auto-indentation, then one character every 80–150 ms, a pause now and then after a word, and
one accepted word per line (inserted at once, as an editor's "accept word" does). Each client
sends a request after every keystroke and cancels the previous one if it is still running, as
editors do. A request's record says when its first token and its whole suggestion arrived.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.jsonrpc_pipe import PipeClient, end_position
from bench.llama_server import LlamaServer

FIRST_REQUEST_TIMEOUT_S = 2400
"""A cold 32K-token prompt with SmolLM2 takes about 15 minutes on 2 cores; past this the server
is taken as stuck."""


@dataclass
class Keystroke:
    delay: float
    """Seconds since the previous keystroke."""
    text: str
    """What the keystroke inserts at the cursor."""


@dataclass
class Session:
    before: str
    """The document before the cursor when the session starts (ends at a line end)."""
    after: str
    """The document after the cursor (starts with a newline)."""
    keystrokes: list[Keystroke]


def make_session(document: str, first_line: int, lines: int, rng: random.Random) -> Session:
    """Blank out ``lines`` lines from ``first_line`` (0-based) and script their retyping."""
    source = document.split("\n")
    typed = source[first_line:first_line + lines]
    keystrokes = []
    pause = 0.0
    for line in typed:
        indent = line[: len(line) - len(line.lstrip())]
        keystrokes.append(Keystroke(rng.uniform(0.3, 0.6), "\n" + indent))
        words = re.findall(r"\S+\s*", line.strip())
        accept_at = rng.randrange(1, max(2, len(words)))
        for number, word in enumerate(words):
            if number == accept_at:
                keystrokes.append(Keystroke(rng.uniform(0.4, 0.8) + pause, word))
            else:
                keystrokes.extend(Keystroke(rng.uniform(0.08, 0.15), char) for char in word)
                keystrokes[-len(word)].delay += pause
            # Now and then the user stops after a word to read the suggestion.
            pause = rng.uniform(0.5, 1.2) if word.endswith(" ") and rng.random() < 0.2 else 0.0
    return Session("\n".join(source[:first_line]), "\n" + "\n".join(source[first_line + lines:]), keystrokes)


@dataclass
class Record:
    sent: float
    first: float | None = None
    done: float | None = None
    cancelled_at: float | None = None
    """When the next keystroke cancelled the request."""
    failed: bool = False
    """The server answered with an error (counted neither as a first token nor as finished)."""
    evaluated: int | None = None
    shortened: bool = False
    """Infill answered from a prompt cut to its time budget."""
    context: int | None = None
    """Tokens of repository context in Infill's prompt (None: answered without the model)."""
    text: str | None = None
    """The suggestion, once the answer came."""
    partial: str = ""
    """The latest streamed text before the answer (what a streaming client shows)."""
    partial_at: float | None = None
    """When ``partial`` first became non-empty."""
    suggestion_id: int = 0
    """Infill's id for the suggestion (its acceptance command names it)."""

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None


class Replayer:
    """The shared loop: apply a keystroke, cancel what is pending, request, record."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def replay(self, session: Session, *, wait_for_answers: bool = False) -> list[Record]:
        """Type the session. ``wait_for_answers``: each keystroke comes its delay after the previous
        answer, as when the user reads each suggestion; else after the previous keystroke, and a
        request still running is cancelled, as editors do."""
        document = session.before
        pending: Record | None = None
        for keystroke in session.keystrokes:
            if wait_for_answers and pending is not None:
                self.wait(pending, 60)
            time.sleep(keystroke.delay)
            if pending is not None and pending.done is None and not pending.failed:
                pending.cancelled_at = time.perf_counter()
                self.cancel()
            document += keystroke.text
            pending = Record(time.perf_counter())
            self.records.append(pending)
            self.request(document, session.after, keystroke.text, pending)
        if pending is not None:
            self.wait(pending, 60)
        return self.records

    @staticmethod
    def wait(record: Record, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while record.done is None and not record.failed and time.perf_counter() < deadline:
            time.sleep(0.005)

    full_context_ms: float | None = None
    """From the first request until the full prompt was in the cache (Infill shortens a cold
    prompt to its time budget and evaluates the rest once the user pauses); None: at once."""

    def warm(self, session: Session, *, grown: bool = True) -> float:
        """One request at the starting point, waited for: the cold prompt. ``grown``: then wait
        until the full prompt is cached too (Infill grows a shortened one in the background)."""
        record = Record(time.perf_counter())
        self.request(session.before, session.after, "", record)
        self.wait(record, FIRST_REQUEST_TIMEOUT_S)
        if record.done is None:
            raise RuntimeError("the server did not answer the first request (error or timeout); see its log")
        return record.done - record.sent

    def request(self, before: str, after: str, typed: str, record: Record) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def reset(self, text: str) -> None:
        """Replace the whole document (a jump to another place), asking for nothing; a client
        that sends the text with each request has nothing to do."""

    def accepted(self, record: Record, chars: int, *, part: bool) -> None:
        """Tell the server what the user accepted of ``record``'s suggestion, where it listens."""


class InfillClient(Replayer):
    """Infill's LSP server over stdio, with streamed partial suggestions on."""

    def __init__(self, model: Path, n_ctx: int, threads: int, rope_scale: float, settings: dict, log: Path, *,
                 flash_attention: str = "auto", workspace: Path | None = None, document: Path | None = None,
                 engine: list[str] = ()) -> None:
        """``workspace``: the folder to index for repository context, and ``document`` the file in
        it being typed in (else an untitled document and no workspace); ``engine``: more server
        flags, such as ``--engine-*`` (an inference server instead of the model in the process)."""
        super().__init__()
        command = [sys.executable, "-m", "infill_lsp", "--model", str(model), "--n-ctx", str(n_ctx),
                   "--threads", str(threads), "--rope-scale", str(rope_scale), "--flash-attn", flash_attention,
                   "--log-file", str(log), *engine]
        self.pipe = PipeClient(command=command)
        self.log = log
        self.uri = document.resolve().as_uri() if document else "file:///session/module.py"
        self.version = 0
        self.next_id = 0
        self.by_id: dict[int, Record] = {}
        self.by_version: dict[int, Record] = {}
        self.pending_id: int | None = None
        self.background_evaluated = 0
        self.initialized = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        folders = {"rootUri": workspace.resolve().as_uri(),
                   "workspaceFolders": [{"uri": workspace.resolve().as_uri(),
                                         "name": workspace.name}]} if workspace else {}
        self._send({"id": "init", "method": "initialize",
                    "params": {"processId": None, "initializationOptions": settings, **folders,
                               "capabilities": {"experimental": {"infill": {"partialCompletion": True}}}}})
        self.initialized.wait(120)
        self._send({"method": "initialized", "params": {}})
        self._send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": self.uri, "languageId": "python", "version": 0, "text": ""}}})

    def _send(self, message: dict) -> None:
        self.pipe.send(message)

    def _read(self) -> None:
        while True:
            try:
                message = self.pipe.read()
            except AssertionError:  # the server closed stdout
                return
            now = time.perf_counter()
            if message.get("id") == "init":
                self.initialized.set()
            elif message.get("method") == "infill/partialCompletion":
                params = message["params"]
                record = self.by_version.get(params["textDocument"]["version"])
                if record is not None and params["text"] and not params["done"]:
                    record.first = record.first or now
                    record.partial_at = record.partial_at or now
                    record.partial = params["text"]
                    record.suggestion_id = params.get("id", 0)
            elif message.get("id") in self.by_id and "method" not in message:
                record = self.by_id[message["id"]]
                if "error" in message:
                    record.failed = not record.cancelled  # a cancelled request is answered with an error
                    continue
                items = message.get("result") or {}
                items = items.get("items", []) if isinstance(items, dict) else items
                record.text = items[0]["insertText"] if items else ""
                command = items[0].get("command") if items else None
                if command:
                    record.suggestion_id = command["arguments"][0]["id"]
                record.first = record.first or now
                record.done = now

    def warm(self, session: Session, *, grown: bool = True) -> float:
        """The first answer; then, if its prompt was shortened and ``grown``, wait until the full one is cached."""
        started = time.perf_counter()
        first = super().warm(session)
        if grown and " shortened " in next((line for line in self._log_lines() if "completion id=1 " in line), ""):
            deadline = started + FIRST_REQUEST_TIMEOUT_S
            while not any("grow uri=" in line and "stop=warmed" in line for line in self._log_lines()):
                if time.perf_counter() > deadline:
                    raise RuntimeError("the full prompt was not evaluated in time; see the server log")
                time.sleep(0.05)
            self.full_context_ms = (time.perf_counter() - started) * 1000
        return first

    def _log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def request(self, before: str, after: str, typed: str, record: Record) -> None:
        # An editor sends the keystroke as an incremental edit (the first time, the whole text).
        self.version += 1
        if self.version == 1:
            change = {"text": before + after}
        else:
            at = end_position(before[: len(before) - len(typed)])
            change = {"range": {"start": at, "end": at}, "text": typed}
        self._send({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [change]}})
        self.next_id += 1
        self.by_id[self.next_id] = self.by_version[self.version] = record
        self.pending_id = self.next_id
        self._send({"id": self.next_id, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": self.uri}, "position": end_position(before), "context": {"triggerKind": 2}}})

    def cancel(self) -> None:
        self._send({"method": "$/cancelRequest", "params": {"id": self.pending_id}})

    def reset(self, text: str) -> None:
        """Replace the whole document (a jump to another place), asking for nothing."""
        self.version += 1
        change = {"text": text}
        self._send({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [change]}})

    def accepted(self, record: Record, chars: int, *, part: bool) -> None:
        """Tell the server what the user accepted, as an editor runs the item's command."""
        if record.suggestion_id:
            self.next_id += 1
            self._send({"id": f"accept-{self.next_id}", "method": "workspace/executeCommand", "params": {
                "command": "infill.accepted", "arguments": [{"id": record.suggestion_id, "chars": chars,
                                                             "part": part}]}})

    def close(self) -> None:
        self._send({"id": "bye", "method": "shutdown"})
        time.sleep(0.2)
        self._send({"method": "exit"})
        try:
            self.pipe.process.wait(20)
        except subprocess.TimeoutExpired:
            self.pipe.process.kill()
        log = self.log.read_text(encoding="utf-8")
        evaluated = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"completion id=(\d+) .*? evaluated=(\d+)",
                                                                           log)}
        shortened = {int(m.group(1)) for m in re.finditer(r"completion id=(\d+) [^\n]* shortened ", log)}
        context = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"completion id=(\d+) [^\n]* context=(\d+)",
                                                                         log)}
        for request_id, record in self.by_id.items():
            record.evaluated = evaluated.get(request_id)
            record.shortened = request_id in shortened
            record.context = context.get(request_id)
        # Speculation and idle warming evaluate tokens too, off the keystrokes' critical path.
        self.background_evaluated = sum(int(m.group(1)) for m in re.finditer(
            r"(?:speculation|warm|grow) uri=.*? evaluated=(\d+)", log))


def declared_context(model: Path) -> tuple[str, int]:
    """The GGUF's context-length metadata key and the training context it declares."""
    import gguf

    fields = gguf.GGUFReader(model).fields
    key = f"{fields['general.architecture'].contents()}.context_length"
    return key, int(fields[key].contents())


class LlamaServerClient(Replayer):
    """llama-server, driven the way llama.vscode drives it: ``/infill`` (or ``/completion``), streamed."""

    def __init__(self, binary: Path | None, model: Path, n_ctx: int, threads: int, rope_scale: float, budget: int, *,
                 endpoint: str, spm: bool, request: dict, log: Path, flash_attention: str = "auto",
                 extra_args: tuple[str, ...] = ()) -> None:
        """``extra_args``: more llama-server flags (``-ngl 99`` on a GPU)."""
        super().__init__()
        args = [*server_args(model, n_ctx, threads, rope_scale, budget, flash_attention, spm=spm), *extra_args]
        self.server = LlamaServer(model, args=args, log=log, binary=binary).start(FIRST_REQUEST_TIMEOUT_S)
        self.port = self.server.port
        self.endpoint = endpoint
        self.fields = request
        self.connection: http.client.HTTPConnection | None = None
        self.prefix_lines, self.suffix_lines = 256, 64  # llama.vscode's defaults, until fit() is called

    def tokenize(self, text: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("POST", "/tokenize", json.dumps({"content": text}), {"Content-Type": "application/json"})
        return len(json.loads(connection.getresponse().read())["tokens"])

    def fit(self, session: Session, budget: int) -> None:
        """Choose how many lines to send, as llama.vscode does (a fixed number of lines around the
        cursor), so that the prompt is about ``budget`` tokens when the session starts."""
        infill = self.endpoint == "/infill"
        before = session.before.split("\n")[:-1]
        after = session.after.split("\n")
        prefix_budget = budget * 3 // 4 if infill else budget - 64
        self.prefix_lines = self._lines_within(lambda n: "\n".join(before[-n:]), len(before), prefix_budget)
        suffix_budget = budget // 4 - 64 if infill else 0
        self.suffix_lines = self._lines_within(lambda n: "\n".join(after[:n]), len(after), suffix_budget)

    def _lines_within(self, text_of, available: int, budget: int) -> int:
        lines = 0
        while lines + 16 <= available and self.tokenize(text_of(lines + 16)) <= budget:
            lines += 16
        return lines

    def request(self, before: str, after: str, typed: str, record: Record) -> None:
        lines = before.split("\n")
        head = "\n".join(lines[-1 - self.prefix_lines:-1]) + "\n" if self.prefix_lines else ""
        if self.endpoint == "/infill":
            suffix = "\n".join(after.split("\n")[: self.suffix_lines + 1])
            body = {"input_prefix": head, "prompt": lines[-1], "input_suffix": suffix}
        else:
            body = {"prompt": head + lines[-1]}
        body.update(self.fields, stream=True, cache_prompt=True, temperature=0.0)
        # A streamed answer sends nothing until the prompt is evaluated: a cold one may take as
        # long as the first request is allowed to.
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=FIRST_REQUEST_TIMEOUT_S)
        self.connection = connection
        threading.Thread(target=self._run, args=(connection, body, record), daemon=True).start()

    def _run(self, connection: http.client.HTTPConnection, body: dict, record: Record) -> None:
        content = ""
        try:
            connection.request("POST", self.endpoint, json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            if response.status != 200:
                record.failed = True
                return
            for raw in response:
                if not raw.startswith(b"data: "):
                    continue
                chunk = json.loads(raw[6:])
                if "error" in chunk:
                    record.failed = True
                    return
                if chunk.get("content") and record.first is None:
                    record.first = time.perf_counter()
                content += chunk.get("content", "")
                if chunk.get("stop"):
                    record.evaluated = chunk.get("timings", {}).get("prompt_n")
                    break
            record.first = record.first or time.perf_counter()
            record.text = content  # llama.vscode shows the whole answer, not a stream
            record.done = time.perf_counter()
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            record.failed = not record.cancelled  # a cancel closes the connection under this thread

    def cancel(self) -> None:
        # Closing the connection is how an HTTP client cancels; llama-server stops the task when it sees it.
        if self.connection is not None and self.connection.sock is not None:
            try:
                self.connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.server.stop()


def server_args(model: Path, n_ctx: int, threads: int, rope_scale: float, batch: int, flash_attention: str, *,
                spm: bool = False, parallel: int = 1) -> list[str]:
    """llama-server's flags as llama.vscode's docs start it: ``--cache-reuse 256``, one slot per
    user, the whole prompt in one batch (``-b``)."""
    command = ["-c", str(n_ctx * parallel), "-b", str(batch), "-t", str(threads), "-np", str(parallel),
               "--cache-reuse", "256", "-fa", flash_attention]
    if rope_scale != 1.0:
        command += ["--rope-scaling", "linear", "--rope-scale", str(rope_scale)]
    key, trained = declared_context(model)
    if n_ctx > trained:
        # llama-server caps a slot at the training context the GGUF declares, whatever the
        # RoPE scaling; declaring a larger one lets it use all of ``n_ctx``, as Infill does.
        command += ["--override-kv", f"{key}=int:{n_ctx}"]
    if spm:
        command.append("--spm-infill")
    return command
