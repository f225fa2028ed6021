"""The inference queue: one thread, the user's requests before background work, and preemption."""

from __future__ import annotations

import asyncio
import itertools
import threading

from infill_lsp.background import BackgroundWork
from infill_lsp.document_state import DocumentStates
from infill_lsp.engine.generation import GenerationStats
from infill_lsp.engine.models import ModelOptions
from infill_lsp.inference import InferenceQueue


async def loaded_queue(model) -> InferenceQueue:
    queue = InferenceQueue()
    queue.start_loading(ModelOptions(str(model), n_ctx=256, threads=1), None)
    await queue.wait_loaded()
    assert queue.completer is not None, queue.error
    return queue


def test_a_user_request_stops_the_background_job_in_progress(fake_model):
    async def scenario() -> str:
        queue = await loaded_queue(fake_model)
        started = threading.Event()

        def background(cancel: threading.Event) -> str:
            started.set()
            return "stopped" if cancel.wait(5) else "ran on"

        job = asyncio.ensure_future(queue.background(background))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        answer = await queue.foreground(lambda: "answered")
        outcome = await job
        queue.shutdown()
        return f"{outcome}, {answer}"

    assert asyncio.run(scenario()) == "stopped, answered"


def test_a_user_request_runs_before_background_work_queued_earlier(fake_model):
    async def scenario() -> list[str]:
        queue = await loaded_queue(fake_model)
        ran: list[str] = []
        release = threading.Event()

        def busy_background(_cancel: threading.Event) -> None:
            ran.append("busy background")
            release.wait(5)  # holds the thread while the next jobs queue up

        def job(name: str):
            return lambda *_args: ran.append(name)

        first = asyncio.ensure_future(queue.background(busy_background))
        while not ran:
            await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(queue.background(job("queued background")))
        await asyncio.sleep(0.05)
        user = asyncio.ensure_future(queue.foreground(job("user request")))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, queued, user)
        queue.shutdown()
        return ran

    assert asyncio.run(scenario()) == ["busy background", "user request", "queued background"]


def test_background_work_is_refused_while_a_user_request_waits(fake_model):
    async def scenario() -> object:
        queue = await loaded_queue(fake_model)
        gate = threading.Event()
        user = asyncio.ensure_future(queue.foreground(gate.wait, 10))
        await asyncio.sleep(0.05)
        refused = await queue.background(lambda cancel: "ran")
        gate.set()
        await user
        queue.shutdown()
        return refused

    assert asyncio.run(scenario()) is None


def test_a_growth_under_way_goes_on_with_the_newest_keystroke_s_prompt(fake_model):
    async def scenario() -> list[str]:
        queue = await loaded_queue(fake_model)
        background = BackgroundWork(queue, DocumentStates(), itertools.count(1))
        ran: list[str] = []
        finished = asyncio.Event()

        def growth_of(keystroke: str):
            def job(_cancel: threading.Event, _beside: bool) -> GenerationStats:
                ran.append(keystroke)
                # The first keystroke's prompt is always cut off by the next key.
                return GenerationStats(stop_reason="warmed" if keystroke == "latest" else "cancelled")
            return job

        background.grow("file:///a.py", growth_of("first"), lambda _stats: finished.set())
        await asyncio.sleep(0.1)  # a gap: the first keystroke's prompt grows, until the next key
        background.grow("file:///a.py", growth_of("latest"), lambda _stats: finished.set())
        await asyncio.wait_for(finished.wait(), 5)
        queue.shutdown()
        return ran

    ran = asyncio.run(scenario())
    assert ran[0] == "first" and ran[-1] == "latest" and set(ran) == {"first", "latest"}
