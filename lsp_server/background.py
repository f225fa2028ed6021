"""Background inference: the speculative next suggestion, idle cache warming, growing a shortened prompt.

All run at the inference queue's background priority (see ``infill_lsp.inference``): only when
no user request waits, and preempted by every one. What a preempted job already evaluated stays
in the KV cache, so a warm-up cut short still shortens the next prompt.

Most jobs start after the user has been idle for a moment (a document's idle timer, see
``document_state``), so they never compete with a burst of keystrokes. Growth is the exception:
a shortened prompt's full prompt grows in every gap between keystrokes (into another KV sequence
than the one the keystrokes use), and resumes after each preemption until it is whole.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from infill_lsp.inference import InferenceQueue

logger = logging.getLogger(__name__)

T = TypeVar("T")

GROWTH_GAP_SECONDS = 0.02
"""Quiet after a real request before growth resumes (the answer's own follow-ups go first)."""
GROWTH_PAUSE_SECONDS = 0.15
"""Quiet before growth that must evict the keystrokes' prompt to find room (a pause in typing)."""


@dataclass
class _Growth:
    key: str
    job: Callable[[threading.Event, bool], Any]
    task: asyncio.Task | None = None


class BackgroundWork:
    """Background jobs behind every user request; one growth at a time."""

    def __init__(self, queue: InferenceQueue) -> None:
        self._queue = queue
        self._tasks: set[asyncio.Task] = set()
        self._growth: _Growth | None = None

    def grow(self, key: str, job: Callable[[threading.Event, bool], Any], finished: Callable[[Any], None]) -> None:
        """Run ``job(cancel, beside)`` in the gaps between real requests until it ends without
        being preempted, then call ``finished`` with its stats. One growth at a time: this one
        replaces another key's. A growth already under way for ``key`` goes on with ``job``
        from its next gap: the newest keystroke's prompt is the one to grow, so that it is whole
        at a recent text, not at the text of the keystroke that started it. ``beside`` is True
        until the job reports ``no_room``; after that it runs only in pauses, where it may evict
        the keystrokes' prompt."""
        if self.growing(key):
            self._growth.job = job
            return
        self.stop_growing()
        growth = _Growth(key, job)
        growth.task = asyncio.get_running_loop().create_task(self._keep_growing(growth, finished))
        self._growth = growth
        growth.task.add_done_callback(self._finished)

    def growing(self, key: str) -> bool:
        """Whether ``key``'s full prompt is still growing."""
        growth = self._growth
        return growth is not None and growth.key == key and growth.task is not None and not growth.task.done()

    def stop_growing(self, key: str | None = None) -> None:
        """Stop the growth (only if it is ``key``'s, when given)."""
        if self._growth is not None and (key is None or self._growth.key == key):
            self._growth.task.cancel()
            self._growth = None

    async def _keep_growing(self, growth: _Growth, finished: Callable[[Any], None]) -> None:
        beside, key = True, growth.key
        while True:
            await self._quiet(GROWTH_GAP_SECONDS if beside else GROWTH_PAUSE_SECONDS)
            job = growth.job
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
        """Wait until no job runs or waits, ``seconds`` after the last user request."""
        while True:
            wait = self._queue.last_foreground + seconds - time.monotonic()
            if wait <= 0 and self._queue.idle():
                return
            await asyncio.sleep(max(wait, 0.005))

    def start(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run the coroutine ``job()`` as a task (it calls :meth:`run` for its model work)."""
        task = asyncio.get_running_loop().create_task(job())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background job failed", exc_info=task.exception())

    async def run(self, job: Callable[[threading.Event], T]) -> T | None:
        """Run ``job(cancel)`` at background priority; None if a user request came first."""
        return await self._queue.background(job)

    def stop(self) -> None:
        """Shutdown: the growth and the running job stop."""
        self.stop_growing()
        self._queue.preempt_background()
