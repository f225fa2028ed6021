"""The remote engine against a real llama-server built from the pinned llama.cpp tree
(``bench/llama_server.py``; ``make test`` builds it once per machine): the same suggestions as
the in-process engine, cancellation that reaches the server, a server that dies and comes back,
a wrong key, a vocabulary that is not the server's."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench.llama_server import LlamaServer
from bench.lsp_client import URI, change, complete, eventually, open_document, session
from infill_lsp.engine.boundary import run_to_end
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.generation import GenerationParams, GenerationStats
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import ModelOptions, RemoteOptions
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

N_CTX = 4096
SERVER_ARGS = ["-c", str(N_CTX), "-np", "1", "-t", "2", "--cache-reuse", "256",
               # the in-process engine's arithmetic: prompts in 128-token batches, no flash attention
               # on the CPU; other batch shapes round differently, and greedy decoding may then part
               "-b", "128", "-ub", "128", "-fa", "off"]
FIB = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n    return \n'
SOURCE = (Path(json.__file__).parent / "decoder.py").read_text()


def cursor_cases() -> list[tuple[str, str]]:
    """Spots a user completes at: after an opening word, after a space (token healing), in a call."""
    cases = []
    for marker in ("    def decode(self, s, _w=WHITESPACE.match):\n        ", "raise JSONDecodeError(", "return "):
        at = SOURCE.index(marker) + len(marker)
        cases.append((SOURCE[:at], SOURCE[at:]))
    return cases


@pytest.fixture(scope="module")
def smollm_server(default_model, tmp_path_factory):
    with LlamaServer(default_model, args=SERVER_ARGS,
                     log=tmp_path_factory.mktemp("llama-server") / "smollm.log") as server:
        yield server


def remote_completer(url: str, vocab: Path, **options) -> LlamaCompleter:
    return LlamaCompleter(ModelOptions(str(vocab), remote=RemoteOptions(url, **options)).open())


def suggestions(completer: LlamaCompleter, settings: CompletionSettings) -> list[tuple[str, int, str]]:
    results = []
    for prefix, suffix in cursor_cases():
        request = CompletionRequest(prefix, suffix, settings, path="decoder.py")
        result = completer.complete(request)
        results.append((result.text, result.stats.generated_tokens, result.stats.stop_reason))
    return results


def test_bundled_model_on_llama_server_suggests_what_it_suggests_in_process(smollm_server, default_model):
    settings = CompletionSettings(max_tokens=32, prompt_budget_ms=0, time_budget_ms=60_000, multiline="always")
    here = suggestions(LlamaCompleter(LlamaEngine(str(default_model), n_ctx=N_CTX, n_threads=2)), settings)
    there = suggestions(remote_completer(smollm_server.url, default_model), settings)
    assert there == here
    assert any(text.strip() for text, _count, _stop in here)


def test_whitespace_taken_off_by_token_healing_constrains_the_servers_first_tokens(smollm_server, default_model):
    """A tab the model would not write itself: both engines must begin with it, then agree."""
    here_engine = LlamaEngine(str(default_model), n_ctx=N_CTX, n_threads=2)
    there_engine = ModelOptions(str(default_model), remote=RemoteOptions(smollm_server.url)).open()
    tokens = here_engine.encoder.encode("def total(values):\n    result = 0\n    for value in values:\n")
    params = GenerationParams(max_tokens=8, forced_prefix="\t")
    outputs = []
    for engine in (here_engine, there_engine):
        outputs.append(run_to_end(engine, tokens, params)[0])
    assert outputs[0].startswith("\t") and outputs[0] == outputs[1]


def test_a_partial_word_is_healed_on_the_server_too(smollm_server, default_model):
    """The server's first tokens must spell what healing took off (a grammar), and then finish
    the name, as in process."""
    settings = CompletionSettings(max_tokens=12, prompt_budget_ms=0, multiline="never")
    prefix = ("def rectangle_perimeter_in_metres(width, height):\n    return 2 * (width + height)\n\n\n"
              "print(rectangle_peri")
    request = CompletionRequest(prefix, ")\n", settings, path="shapes.py")
    there = remote_completer(smollm_server.url, default_model)
    prompt, _mode = there.prompt(request)
    assert prompt.forced and "rectangle_peri".endswith(prompt.forced)
    assert there.complete(request).text.startswith("meter_in_metres")


def test_fim_model_on_llama_server_gets_the_same_fim_prompt_and_suggestion(starcoder_model, tmp_path):
    # Healing off: after "(" the server's grammar lets any "(…" token win, while in process the
    # prompt's own "(" is preferred (HEALING_ORIGINAL_BIAS), and this model's random weights
    # part there; the bundled model's test above agrees with healing on.
    settings = CompletionSettings(max_tokens=16, prompt_budget_ms=0, time_budget_ms=60_000, multiline="always",
                                  fim="on",
                                  token_healing=False)
    with LlamaServer(starcoder_model, args=SERVER_ARGS, log=tmp_path / "server.log") as server:
        far = remote_completer(server.url, starcoder_model)
        assert far.mode(settings).name == "fim-psm"
        there = suggestions(far, settings)
    here = suggestions(LlamaCompleter(LlamaEngine(str(starcoder_model), n_ctx=N_CTX, n_threads=2)), settings)
    assert there == here


def test_openai_api_gives_the_same_suggestion_where_no_whitespace_is_healed(smollm_server, default_model):
    settings = CompletionSettings(max_tokens=32, prompt_budget_ms=0, time_budget_ms=60_000, multiline="always")
    prefix, suffix = cursor_cases()[1]  # right after "(": nothing for token healing to take off
    request = CompletionRequest(prefix, suffix, settings, path="decoder.py")
    here = LlamaCompleter(LlamaEngine(str(default_model), n_ctx=N_CTX, n_threads=2))
    there = remote_completer(smollm_server.url, default_model, api="openai")
    assert there.engine.location == smollm_server.url
    expected = here.complete(request).text
    assert expected and there.complete(request).text == expected


def test_the_command_line_completes_through_the_server(smollm_server, default_model, tmp_path):
    source = tmp_path / "fib.py"
    source.write_text(FIB)
    command = [sys.executable, "-m", "infill_lsp", "complete", str(source), "--line", "5", "--character", "12",
               "--context-tokens", "0", "--threads", "2"]
    here = subprocess.run(command, capture_output=True, text=True, timeout=120)
    there = subprocess.run([*command, "--engine-url", smollm_server.url], capture_output=True, text=True, timeout=120)
    assert here.returncode == there.returncode == 0, there.stderr
    assert here.stdout.strip() and there.stdout == here.stdout


def test_keystrokes_reuse_the_servers_cache(smollm_server, default_model):
    completer = remote_completer(smollm_server.url, default_model)
    settings = CompletionSettings(max_tokens=4, prompt_budget_ms=0)
    prefix, suffix = cursor_cases()[0]
    first = completer.complete(CompletionRequest(prefix, suffix, settings))
    typed = completer.complete(CompletionRequest(prefix + "se", suffix, settings))
    assert first.stats.prompt_tokens > 500
    assert typed.stats.cached_tokens >= first.stats.prompt_tokens - 2, typed.stats.summary()
    assert typed.stats.evaluated_tokens <= 4, typed.stats.summary()


def slot_busy(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/slots", timeout=5) as answer:
        return any(slot.get("is_processing") for slot in json.load(answer))


def test_cancelling_stops_the_servers_generation(smollm_server, default_model):
    engine = ModelOptions(str(default_model), remote=RemoteOptions(smollm_server.url)).open()
    cancel, seen = threading.Event(), []

    tokens = engine.encoder.encode("Once upon a time, in a land far away,")
    stats = GenerationStats()
    for piece in engine.generate(tokens, GenerationParams(max_tokens=1500, temperature=1.0), cancel, stats):
        seen.append(piece)
        if len(seen) == 3:
            assert slot_busy(smollm_server.url)
            cancel.set()
    assert stats.stop_reason == "cancelled"
    deadline = time.monotonic() + 2
    while slot_busy(smollm_server.url):
        assert time.monotonic() < deadline, "llama-server kept generating after the request was closed"
        time.sleep(0.05)


def test_a_server_that_dies_gives_one_clear_message_and_is_used_again_once_back(default_model, tmp_path):
    server = LlamaServer(default_model, args=SERVER_ARGS, log=tmp_path / "server.log").start()
    try:
        completer = remote_completer(server.url, default_model)
        settings = CompletionSettings(max_tokens=8, prompt_budget_ms=0)
        request = CompletionRequest("def add(a, b):\n    return", "\n", settings)
        assert completer.complete(request).stats is not None
        server.stop(kill=True)
        started = time.monotonic()
        down = completer.complete(request)
        again = completer.complete(request)
        assert time.monotonic() - started < 2, "a dead server must not hold up the editor"
        assert down.reason == again.reason == "engine_unavailable"
        assert completer.engine.problem and server.url.removeprefix("http://") in completer.engine.problem
        server.start()
        deadline = time.monotonic() + 10
        while completer.complete(request).reason == "engine_unavailable":
            assert time.monotonic() < deadline, completer.engine.problem
            time.sleep(0.2)
        assert completer.engine.problem is None
    finally:
        server.stop()


def test_a_wrong_key_is_named_and_never_shown(default_model, tmp_path, monkeypatch):
    with LlamaServer(default_model, args=[*SERVER_ARGS, "--api-key", "right-key-123"],
                     log=tmp_path / "server.log") as server:
        monkeypatch.setenv("INFILL_ENGINE_KEY", "wrong-key-456")
        wrong = remote_completer(server.url, default_model)
        request = CompletionRequest("x = ", "\n", CompletionSettings(max_tokens=4, prompt_budget_ms=0))
        assert wrong.complete(request).reason == "engine_unavailable"
        assert "HTTP 401" in wrong.engine.problem and "INFILL_ENGINE_KEY" in wrong.engine.problem
        assert "wrong-key-456" not in wrong.engine.problem
        monkeypatch.setenv("INFILL_ENGINE_KEY", "right-key-123")
        right = remote_completer(server.url, default_model)
        assert right.complete(request).stats.generated_tokens > 0


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A company CA and a certificate it signed for 127.0.0.1 (the openssl command line)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=Infill Test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
            "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


class TlsProxy:
    """TLS in front of a loopback llama-server, as a team's reverse proxy puts it."""

    def __init__(self, target_port: int, certificate: Path, key: Path) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate, key)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _address = self.listener.accept()
            except OSError:
                return
            try:
                client = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):  # a client that does not trust the certificate
                raw.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for side in (source, sink):
            try:
                side.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def test_https_is_verified_and_a_ca_bundle_adds_the_companys_ca(smollm_server, default_model, tmp_path):
    ca, certificate, key = make_certificates(tmp_path)
    proxy = TlsProxy(smollm_server.port, certificate, key)
    try:
        url = f"https://127.0.0.1:{proxy.port}"
        request = CompletionRequest("def add(a, b):\n    return", "\n", CompletionSettings(max_tokens=4,
                                                                                           prompt_budget_ms=0))
        untrusted = remote_completer(url, default_model)
        assert untrusted.complete(request).reason == "engine_unavailable"
        assert "not trusted" in untrusted.engine.problem and "--engine-ca" in untrusted.engine.problem
        trusted = remote_completer(url, default_model, ca_bundle=str(ca))
        assert trusted.complete(request).stats.generated_tokens > 0
        assert trusted.engine.problem is None
    finally:
        proxy.close()


def test_a_vocabulary_other_than_the_servers_is_refused(smollm_server, codellama_model):
    completer = remote_completer(smollm_server.url, codellama_model)
    request = CompletionRequest("x = ", "\n", CompletionSettings(max_tokens=4, prompt_budget_ms=0))
    assert completer.complete(request).reason == "engine_unavailable"
    assert "--engine-vocab" in completer.engine.problem



async def test_the_editor_gets_suggestions_from_llama_server_and_one_message_when_it_dies(default_model, tmp_path):
    key = "team-key-7f3a9c"
    server = LlamaServer(default_model, args=[*SERVER_ARGS, "--api-key", key], log=tmp_path / "server.log").start()
    log = tmp_path / "infill.log"
    try:
        async with session(default_model, options={"engine": {"url": server.url}},
                           args=("--log-file", str(log), "-v"), env={"INFILL_ENGINE_KEY": key}) as client:
            async def status() -> dict:
                return (await client.protocol.send_request_async("infill/status", {}))._asdict()

            open_document(client, FIB)
            items = await complete(client, URI, 4, 11)
            assert items and items[0].insert_text.strip()
            assert (await status())["engine"] == server.url and (await status())["error"] is None
            server.stop(kill=True)
            change(client, URI, 2, 4, 11, "1 + ")  # not what was suggested: the model must be asked
            started = time.monotonic()
            assert await complete(client, URI, 4, 15) == []
            assert time.monotonic() - started < 2
            assert server.url.removeprefix("http://") in (await status())["error"]
            await eventually(lambda: any("unreachable" in m.message for m in client.messages))
    finally:
        server.stop()
    assert "completion id=" in log.read_text()
    assert key not in log.read_text()
