"""Background inference: the speculative next suggestion, idle cache warming, growing a shortened prompt.

:meth:`BackgroundWork.after_answer` and :meth:`BackgroundWork.after_edit` plan it; the
completion service calls them with values (the request, its result) and goes on. All run at
the inference queue's background priority (see ``infill_lsp.inference``): only when no user
request waits, and preempted by every one. What a preempted job already evaluated stays
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
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from infill_lsp import gate
from infill_lsp.document_state import DocumentStates
from infill_lsp.engine.request import CompletionRequest, CompletionResult
from infill_lsp.inference import InferenceQueue

logger = logging.getLogger(__name__)

T = TypeVar("T")

GROWTH_GAP_SECONDS = 0.02
"""Quiet after a real request before growth resumes (the answer's own follow-ups go first)."""
GROWTH_PAUSE_SECONDS = 0.15
"""Quiet before growth that must evict the keystrokes' prompt to find room (a pause in typing)."""
SPECULATION_IDLE_SECONDS = 0.15
"""Quiet time after a suggestion before the next one is computed ahead (typing goes first)."""


@dataclass
class _Growth:
    key: str
    job: Callable[[threading.Event, bool], Any]
    task: asyncio.Task | None = None


class BackgroundWork:
    """Background jobs behind every user request; one growth at a time."""

    def __init__(self, queue: InferenceQueue, documents: DocumentStates, suggestion_ids: Iterator[int]) -> None:
        self._queue = queue
        self._documents = documents
        self._suggestion_ids = suggestion_ids
        self._tasks: set[asyncio.Task] = set()
        self._growth: _Growth | None = None

    def after_answer(self, uri: str, request: CompletionRequest, result: CompletionResult, shown: str,
                     threshold: float | None) -> None:
        """Plan what follows the answer ``result`` to ``request`` (``shown``: what the user sees):
        grow a shortened prompt; once the user pauses, the speculation (the suggestion that follows
        accepting ``shown``) and the refresh of a prompt typing shifted into place."""
        if result.shortened:
            self._grow(uri, request)
        elif result.stats is not None and result.reason != "cancelled":
            self.stop_growing(uri)  # this prompt was whole: nothing left to grow
        stale = bool(result.stats and result.stats.extra.get("stale"))
        speculate = bool(shown) and request.settings.speculate
        # (a cancelled or outdated answer: the newer request that replaced it follows up)
        if result.reason not in ("cancelled", "content_modified") and (speculate or stale):
            ahead = request.at(request.prefix + shown, speculative=True, label="speculation")
            self.speculate_after_pause(uri, ahead, threshold, speculate=speculate, refresh=stale)

    def speculate_after_pause(self, uri: str, ahead: CompletionRequest, threshold: float | None, *,
                              speculate: bool = True, refresh: bool = False) -> None:
        """Once the user pauses: make the cached prompt exact where typing shifted it into place
        (``refresh``), then compute the suggestion ``ahead`` asks for (the text after an acceptance).

        Not the suggestion while the document's full prompt grows: it would come from a shortened
        prompt, be dropped once the context is in, and take the gaps the growth needs."""
        state = self._documents.state(uri)
        speculate = (speculate and ahead.settings.speculate
                     and state.type_through.lookup(ahead.prefix, ahead.suffix) is None)
        if not (speculate or refresh):
            return

        async def work() -> None:
            completer = self._queue.completer
            if refresh:
                stats = await self.run(completer.refresh)
                if stats is not None:
                    logger.info("refresh uri=%s %s", uri, stats.summary())
            if not speculate or self.growing(uri):
                return
            result = await self.run(lambda cancel: completer.complete(ahead, cancel))
            if result is None:
                return
            verdict = gate.judge(result.text, result.scores, ahead.prefix, threshold)
            if result.text and (verdict is None or verdict.show):
                shown = result.text if verdict is None else verdict.shown
                state.type_through.remember(ahead.prefix, ahead.suffix, shown, speculative=True,
                                            shortened=result.shortened, suggestion_id=next(self._suggestion_ids))
            stats = result.stats.summary() if result.stats else f"skipped: {result.reason}"
            logger.info("speculation uri=%s chars=%d %s", uri, len(result.text), stats)

        state.after_idle(SPECULATION_IDLE_SECONDS, lambda: self.start(work))

    def after_edit(self, uri: str, version: int | None, request: CompletionRequest, idle_s: float) -> None:
        """Once the user pauses ``idle_s`` without asking for a suggestion, evaluate the prompt of
        ``request`` (the text at version ``version``) into the cache."""
        state = self._documents.state(uri, version)

        async def warm() -> None:
            await self._queue.wait_loaded()
            if state.version != version or self._documents.get(uri) is not state or self._queue.completer is None:
                return  # edited or closed since
            completer = self._queue.completer
            stats = await self.run(lambda cancel: completer.warm(request, cancel))
            if stats is not None:
                logger.info("warm uri=%s version=%s %s", uri, version, stats.summary())
                self._context_is_in(uri, stats)

        state.after_idle(idle_s, lambda: self.start(warm))

    def _grow(self, uri: str, request: CompletionRequest) -> None:
        """The prompt of ``request`` was shortened: its full prompt grows between the keystrokes
        that follow, and once it is whole the next keystroke gets all of its context. A growth
        already under way goes on with this newer keystroke's prompt."""
        completer = self._queue.completer
        started = time.perf_counter()

        def grown(stats) -> None:
            logger.info("grown uri=%s ms=%.0f stop=%s", uri, (time.perf_counter() - started) * 1000, stats.stop_reason)
            self._context_is_in(uri, stats)

        self.grow(uri, lambda cancel, beside: completer.warm(request, cancel, beside=beside), grown)

    def _context_is_in(self, uri: str, stats) -> None:
        """After a warm-up: once the full prompt is cached, suggestions made without its context go."""
        state = self._documents.get(uri)
        if stats.stop_reason == "warmed" and state is not None:
            state.type_through.forget_shortened()

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
            stats = await self.run(lambda cancel, job=job, beside=beside: job(cancel, beside))
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
