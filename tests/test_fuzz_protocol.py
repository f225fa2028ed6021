"""Fuzzing the protocol boundary against the real server process.

Hypothesis generates sequences of messages: documents opened, changed with good and bad
ranges (astral characters, lone surrogates, positions far out of range), closed; completion
requests anywhere; unknown methods; wrong parameter types; requests without params; bodies
that are not JSON, not UTF-8 or truncated. Every request must be answered (a result or an
error), nothing but clean frames may reach stdout, and the server must keep serving.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.fuzz_client import FuzzClient

MESSAGES_PER_EXAMPLE = 25
EXAMPLES = int(os.environ.get("INFILL_FUZZ_EXAMPLES", "400"))
"""400 examples × 25 messages: 10,000 messages per run."""

URIS = ["file:///w/a.py", "file:///w/b.js", "file:///w/never-opened.py", "untitled:Untitled-1", "file:///w/.env"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
texts = st.text(st.characters(exclude_categories=()), max_size=120)  # includes lone surrogates and astral characters
numbers = st.integers(-5, 40) | st.sampled_from([2**31, 2**53, -2**31])
positions = st.fixed_dictionaries({"line": numbers, "character": numbers})
uris = st.sampled_from(URIS)


@st.composite
def message(draw) -> tuple[str, object]:
    """``("request", dict)``, ``("notify", dict)`` or ``("raw", bytes)``."""
    kind = draw(st.sampled_from(["open", "change", "full_change", "close", "complete", "complete", "cancel",
                                 "explain", "unknown", "wrong_types", "no_params", "bad_notification", "raw",
                                 "lying_header"]))
    uri, version = draw(uris), draw(st.integers(0, 1000))
    if kind == "open":
        return "notify", {"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": draw(st.sampled_from(["python", "javascript", "plaintext"])),
            "version": version, "text": draw(texts)}}}
    if kind in ("change", "full_change"):
        change = {"text": draw(texts)}
        if kind == "change":
            change["range"] = {"start": draw(positions), "end": draw(positions)}
        return "notify", {"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}}
    if kind == "close":
        return "notify", {"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}}
    if kind == "complete":
        return "request", {"method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": uri}, "position": draw(positions),
            "context": {"triggerKind": draw(st.sampled_from([1, 2]))}}}
    if kind == "cancel":
        return "notify", {"method": "$/cancelRequest", "params": {"id": draw(st.integers(0, 50) | st.text(max_size=4))}}
    if kind == "explain":
        return "request", {"method": "infill/explain", "params": draw(
            st.fixed_dictionaries({"textDocument": st.fixed_dictionaries({"uri": uris}), "position": positions})
            | json_values)}
    if kind == "unknown":
        return "request", {"method": draw(st.sampled_from(["textDocument/nope", "infill/nope", "$/weird", ""])),
                           "params": draw(json_values)}
    if kind == "wrong_types":
        return "request", {"method": draw(st.sampled_from(["textDocument/inlineCompletion", "infill/status"])),
                           "params": draw(json_values)}
    if kind == "no_params":
        return "request", {"method": draw(st.sampled_from(["infill/status", "infill/explain",
                                                           "textDocument/inlineCompletion"]))}
    if kind == "bad_notification":
        return "notify", {"method": draw(st.sampled_from(["textDocument/didChange", "textDocument/didOpen",
                                                          "workspace/didChangeConfiguration", "infill/warm",
                                                          "workspace/didChangeWatchedFiles"])),
                          "params": draw(json_values | st.fixed_dictionaries({
                              "textDocument": st.fixed_dictionaries({"uri": uris}), "position": positions}))}
    if kind == "lying_header":
        # Lengths a broken or hostile client writes: over the cap, negative, not numbers, two of
        # them, longer than what follows (the next frame's header then ends the body).
        length = draw(st.sampled_from([b"999999999999", b"2000000000", b"-5", b"lots", b"", b"4000", b"70000000"])
                      | st.integers(0, 10**13).map(lambda n: str(n).encode()))
        body = draw(st.sampled_from([b"{}", b"", b"[1, 2", b'{"id": 1}']))
        extra = draw(st.sampled_from([b"", b"Content-Length: 9\r\n"]))
        if length.isdigit() and int(length) < len(body):
            length = b"%d" % (len(body) + 1)  # shorter bodies lose the next header: tests/test_framing.py
        return "unframed", b"Content-Length: " + length + b"\r\n" + extra + b"\r\n" + body
    body = json.dumps({"jsonrpc": "2.0", "id": "raw", "method": "infill/status", "params": {}}).encode()
    return "raw", draw(st.sampled_from([body[: len(body) // 2], b"\xff\xfe{not json", b"[]", b"null", b"{}"])
                       | st.binary(max_size=40))


@pytest.fixture(scope="module")
def server(starcoder_model):
    client = FuzzClient("--model", str(starcoder_model), "--threads", "1")
    client.send({"id": "init", "method": "initialize", "params": {
        "capabilities": {}, "processId": None,
        "initializationOptions": {"completion": {"maxTokens": 4, "warmIdleMs": 0, "speculate": False}}}})
    assert not client.wait_for(["init"], 60)
    client.send({"method": "initialized", "params": {}})
    for attempt in range(300):  # the model loads in the background
        client.send({"id": f"loaded-{attempt}", "method": "infill/status", "params": {}})
        assert not client.wait_for([f"loaded-{attempt}"], 30)
        if client.responses[f"loaded-{attempt}"]["result"]["loaded"]:
            break
        time.sleep(0.1)
    client.sent_messages = 0
    yield client
    client.close()


def test_ten_thousand_generated_messages_get_answers_and_the_server_keeps_serving(server):
    counter = iter(range(10**9))

    # No shrinking: the server's state carries over from one example to the next, so a smaller
    # example would not replay the failure; the failing sequence is printed as generated.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(message(), min_size=MESSAGES_PER_EXAMPLE, max_size=MESSAGES_PER_EXAMPLE))
    def run(messages):
        ids = []
        for kind, payload in messages:
            if kind == "raw":
                server.send_bytes(payload)
            elif kind == "unframed":
                server.send_unframed(payload)
            elif kind == "request":
                request_id = next(counter)
                ids.append(request_id)
                server.send({"id": request_id, **payload})
            else:
                server.send(payload)
            server.sent_messages += 1
        ids.append(probe := f"probe-{next(counter)}")
        server.send({"id": probe, "method": "infill/status", "params": {}})
        missing = server.wait_for(ids, 20)
        assert server.process.poll() is None, "the server died"
        assert not missing, f"requests never answered: {missing[:5]}"
        for request_id in ids:
            answer = server.responses[request_id]
            assert ("result" in answer) != ("error" in answer), answer
        assert server.responses[probe]["result"]["loaded"] is True
        assert not server.stray, f"stray bytes on stdout: {server.stray[:2]!r}"

    run()
    assert server.sent_messages >= EXAMPLES * MESSAGES_PER_EXAMPLE
