"""Background inference: the speculative next suggestion, idle cache warming, growing a shortened prompt.

All run on the one inference thread, only when no real request is in flight, and every real
request preempts them: it sets the background job's cancellation event before it queues, and
the engine checks that event between tokens and, through llama.cpp's abort callback, inside a
prompt chunk's decode. What a preempted job already evaluated stays in the KV cache, so a
warm-up cut short still shortens the next prompt.

Most jobs start after the user has been idle for a moment (per document), so they never compete
with a burst of keystrokes. Growth is the exception: a shortened prompt's full prompt grows in
every gap between keystrokes (into another KV sequence than the one the keystrokes use), and
resumes after each preemption until it is whole.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from lsp_server.engine.models import InferenceWorker
from lsp_server.scheduler import LatestWins

logger = logging.getLogger(__name__)

T = TypeVar("T")

GROWTH_GAP_SECONDS = 0.02
"""Quiet after a real request before growth resumes (the answer's own follow-ups go first)."""
GROWTH_PAUSE_SECONDS = 0.15
"""Quiet before growth that must evict the keystrokes' prompt to find room (a pause in typing)."""


class BackgroundWork:
    """One background job at a time, behind every real request; per-document idle timers."""

    def __init__(self, worker: InferenceWorker, requests: LatestWins) -> None:
        self._worker = worker
        self._requests = requests
        self._cancel = threading.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self._last_request = 0.0
        self._running = 0
        self._growth: tuple[str, asyncio.Task] | None = None

    def preempt(self) -> None:
        """A real request is coming: the background job stops at its next check."""
        self._last_request = time.monotonic()
        self._cancel.set()

    def grow(self, key: str, job: Callable[[threading.Event, bool], Any], finished: Callable[[Any], None]) -> None:
        """Run ``job(cancel, beside)`` in the gaps between real requests until it ends without
        being preempted, then call ``finished`` with its stats. One growth at a time: this one
        replaces another key's, and a growth already under way for ``key`` goes on. ``beside``
        is True until the job reports ``no_room``; after that it runs only in pauses, where it
        may evict the keystrokes' prompt."""
        if self.growing(key):
            return
        self.stop_growing()
        task = asyncio.get_running_loop().create_task(self._keep_growing(key, job, finished))
        self._growth = (key, task)
        task.add_done_callback(self._finished)

    def growing(self, key: str) -> bool:
        """Whether ``key``'s full prompt is still growing."""
        return self._growth is not None and self._growth[0] == key and not self._growth[1].done()

    def stop_growing(self, key: str | None = None) -> None:
        """Stop the growth (only if it is ``key``'s, when given)."""
        if self._growth is not None and (key is None or self._growth[0] == key):
            self._growth[1].cancel()
            self._growth = None

    async def _keep_growing(self, key: str, job: Callable[[threading.Event, bool], Any],
                            finished: Callable[[Any], None]) -> None:
        beside = True
        while True:
            await self._quiet(GROWTH_GAP_SECONDS if beside else GROWTH_PAUSE_SECONDS)
            stats = await self.run(lambda cancel: job(cancel, beside))
            if stats is None:  # a request came first, or no model: not a reason to spin
                await asyncio.sleep(GROWTH_GAP_SECONDS)
                continue
            logger.info("grow uri=%s %s", key, stats.summary())  # one line per gap it used
            if stats.stop_reason == "cancelled":
                continue
            if stats.stop_reason == "no_room" and beside:
                beside = False
                continue
            self._growth = None
            finished(stats)
            return

    async def _quiet(self, seconds: float) -> None:
        """Wait until no request or other background job runs, ``seconds`` after the last request."""
        while True:
            wait = self._last_request + seconds - time.monotonic()
            if wait <= 0 and not self._requests.busy() and not self._running:
                return
            await asyncio.sleep(max(wait, 0.005))

    def after_idle(self, key: str, seconds: float, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``job()`` once ``key`` (a document) has been quiet for ``seconds``; replaces its pending job."""
        self.cancel_pending(key)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(seconds, self._start, key, job)

    def cancel_pending(self, key: str) -> None:
        """Forget the job waiting on ``key``'s idle timer (the user acted first)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _start(self, key: str, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(job())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background job failed", exc_info=task.exception())

    async def run(self, job: Callable[[threading.Event], T]) -> T | None:
        """Run ``job(cancel)`` on the inference thread unless a real request is in flight."""
        if self._requests.busy() or self._worker.backend is None:
            return None
        self._cancel.set()  # the newest background job replaces an older one
        cancel = self._cancel = threading.Event()
        self._running += 1
        try:
            return await self._worker.call(job, cancel)
        finally:
            self._running -= 1
            cancel.set()

    def stop(self) -> None:
        """Shutdown: no more timers, and the running job stops."""
        for key in list(self._timers):
            self.cancel_pending(key)
        self.stop_growing()
        self.preempt()
