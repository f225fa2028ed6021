"""Background inference: the speculative next suggestion, idle cache warming, growing a shortened prompt.

All run on the one inference thread, only when no real request is in flight, and every real
request preempts them: it sets the background job's cancellation event before it queues, and
the engine checks that event between tokens and, through llama.cpp's abort callback, inside a
prompt chunk's decode. What a preempted job already evaluated stays in the KV cache, so a
warm-up cut short still shortens the next prompt.

Jobs start after the user has been idle for a moment (per document), so they never compete with
a burst of keystrokes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from lsp_server.engine.models import InferenceWorker
from lsp_server.scheduler import LatestWins

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BackgroundWork:
    """One background job at a time, behind every real request; per-document idle timers."""

    def __init__(self, worker: InferenceWorker, requests: LatestWins) -> None:
        self._worker = worker
        self._requests = requests
        self._cancel = threading.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()

    def preempt(self) -> None:
        """A real request is coming: the background job stops at its next check."""
        self._cancel.set()

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
        try:
            return await self._worker.call(job, cancel)
        finally:
            cancel.set()

    def stop(self) -> None:
        """Shutdown: no more timers, and the running job stops."""
        for key in list(self._timers):
            self.cancel_pending(key)
        self.preempt()
