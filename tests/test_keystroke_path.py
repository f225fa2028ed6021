"""One keystroke through the completion service as values: the snapshot is taken once, partial
suggestions stream in order and end with the answer, and a reader that stops early stops the
generation. In process, on the fake engine."""

from __future__ import annotations

import asyncio
import threading
from contextlib import aclosing

from lsprotocol import types
from pygls.workspace import TextDocument

from infill_lsp.acceptance import AcceptanceStats
from infill_lsp.completion_service import CompletionService
from infill_lsp.context import CursorSnapshot
from infill_lsp.conversions import spot_at
from infill_lsp.engine.models import ModelOptions
from infill_lsp.engine.request import CompletionResult
from infill_lsp.inference import InferenceQueue
from infill_lsp.settings import resolve_settings
from infill_lsp.workspace_context import WorkspaceContext

URI = "file:///work/steps.py"
STEPS = "".join(f"print('step {n}')\n" for n in range(1, 9)) + "print('st"


async def service_on(model: str, published: list, **completion) -> CompletionService:
    queue = InferenceQueue()
    queue.start_loading(ModelOptions(model), None)
    service = CompletionService(queue, WorkspaceContext(), published.append, AcceptanceStats(None))
    service.settings, errors = resolve_settings({"completion": {"speculate": False, "warmIdleMs": 0, **completion}},
                                                service.settings)
    assert not errors
    await queue.wait_loaded()
    return service


async def test_one_keystroke_takes_one_snapshot(fake_model, monkeypatch):
    service = await service_on(fake_model, [])
    taken = []
    real_post_init = CursorSnapshot.__post_init__
    monkeypatch.setattr(CursorSnapshot, "__post_init__", lambda self: taken.append(1) or real_post_init(self))
    document = TextDocument(URI, STEPS, version=1, language_id="python")
    answer = await service.complete(spot_at(document, types.Position(8, 9)))
    assert answer.text == "ep 8')"
    assert len(taken) == 1, "the edge's snapshot is the one every later stage reads"
    service.shutdown()


async def test_partials_stream_in_order_and_end_with_the_answer(fake_model):
    published = []
    service = await service_on(fake_model + "?token_ms=5", published, multiline="always", confidence="off")
    service.client_streams = True
    document = TextDocument(URI, STEPS, version=1, language_id="python")
    answer = await service.complete(spot_at(document, types.Position(8, 9)))
    texts = [partial.text for partial in published]
    assert len(texts) > 2 and published[-1].done and texts[-1] == answer.text
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert [partial.sequence for partial in published] == sorted(partial.sequence for partial in published)
    service.shutdown()


async def test_a_reader_that_stops_early_stops_the_generation(fake_model):
    # A function written out once, then begun again: the fake engine would copy all of it, 100
    # pieces of 20 ms (2 s), unless reading stops.
    body = "".join(f"    total_{n} = compute({n}, factor={n * 3})\n" for n in range(40))
    text = "def first(compute):\n" + body + "\n\ndef second(compute):\n    total_0 = comp"
    service = await service_on(fake_model + "?token_ms=20", [], multiline="always", maxTokens=100)
    request = service.request(CursorSnapshot.of(text, ""))
    cancel = threading.Event()
    seen = 0
    async with aclosing(service.queue.stream(lambda: service.queue.completer.stream(request, cancel), cancel)) as items:
        async for item in items:
            assert not isinstance(item, CompletionResult)
            seen += 1
            if seen == 2:
                break  # leaving closes the stream: ``cancel`` is set for the inference thread
    # The next job runs within a piece or two: the generation stopped instead of running on.
    started = asyncio.get_running_loop().time()
    assert await service.queue.foreground(lambda: "next") == "next"
    assert asyncio.get_running_loop().time() - started < 0.5
    service.shutdown()


async def test_with_the_gate_on_a_sure_suggestion_streams_and_a_guess_shows_nothing(fake_model):
    """The gate judges the text written so far: a sure copy is on screen before it is finished,
    a guess (a short copy) never is."""
    published = []
    service = await service_on(fake_model + "?token_ms=5", published, multiline="always")
    assert service.settings.completion.confidence == "auto"
    service.client_streams = True
    document = TextDocument(URI, STEPS, version=1, language_id="python")
    answer = await service.complete(spot_at(document, types.Position(8, 9)))
    texts = [partial.text for partial in published]
    assert len(texts) >= 2 and not published[0].done and texts[-1] == answer.text, texts
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    published.clear()
    guess = TextDocument(URI, "value = compute(1)\nresult = comp", version=2, language_id="python")
    assert (await service.complete(spot_at(guess, types.Position(1, 13)))).text == ""
    assert [(partial.text, partial.done) for partial in published] == [("", True)]
    service.shutdown()
