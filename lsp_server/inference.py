"""The inference queue: the one thread that touches llama.cpp, and the priorities in front of it.

Every model call goes through here: loading the model, each suggestion the user asked for
(foreground), and the work done ahead of the user (background: warming, growing a shortened
prompt, the speculative next suggestion). Jobs run one at a time, foreground before background.
A foreground job also preempts the background job in progress: that job's cancellation event is
set, and the engine checks it between tokens and, through llama.cpp's abort callback, inside a
prompt chunk's decode. What a preempted job already evaluated stays in the KV cache.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from typing import Any, TypeVar

from infill_lsp.catalog import ModelNotFound, entry_for_file, fim_mismatch, resolve_model
from infill_lsp.engine.boundary import Engine
from infill_lsp.engine.completer import Completer, LlamaCompleter
from infill_lsp.engine.models import ModelOptions, load_error_message
from infill_lsp.engine.native import ModelLoadError
from infill_lsp.engine.prompt_planner import Retriever

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOAD, FOREGROUND, BACKGROUND = 0, 1, 2
"""Job priorities, most urgent first."""
_END = object()
"""Marks the end of a stream's items."""
SWITCH_INTERVAL_S = 0.0005
"""How long a Python thread may hold the interpreter lock while the inference thread waits for it."""


class InferenceQueue:
    """Owns the model once loaded; runs every job on one thread, by priority."""

    def __init__(self) -> None:
        # Background decodes ask Python whether to stop at every graph operation, and the
        # inference thread runs Python between decodes: each time it waits for the interpreter
        # lock, up to the switch interval, while the indexer thread runs Python. With the
        # default 5 ms, prefill beside a busy Python thread ran at 3/4 of its speed alone
        # (bench/switch_interval.py, docs/benchmarks.md).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.completer: Completer | None = None
        self.engine: Engine | None = None
        self.error: str | None = None
        self.last_foreground = 0.0
        """``time.monotonic()`` when the last foreground job was queued."""
        self._jobs: list[tuple[int, int, Callable[[], Any], asyncio.Future, asyncio.AbstractEventLoop]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._foreground = 0
        """Foreground jobs queued or running."""
        self._background = 0
        self._background_cancel = threading.Event()
        self._loaded: asyncio.Future | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="infill-inference", daemon=True)
        self._thread.start()

    @property
    def load_started(self) -> bool:
        """Whether the model load was queued (the engine options are then fixed)."""
        return self._loaded is not None

    def start_loading(self, options: ModelOptions, retriever: Retriever | None) -> None:
        """Queue the model load ahead of everything else."""
        self._loaded = self._submit(LOAD, lambda: self._load(options, retriever))

    async def wait_loaded(self) -> None:
        """Wait until the load attempt is over (successful or not)."""
        if self._loaded is not None:
            await asyncio.shield(self._loaded)

    async def foreground(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` before any background job; stop the background job in progress."""
        self._enter_foreground()
        try:
            return await self._submit(FOREGROUND, lambda: function(*args))
        finally:
            self._foreground -= 1

    async def stream(self, open_stream: Callable[[], Iterator[T]], cancel: threading.Event) -> AsyncIterator[T]:
        """The items of ``open_stream()``, made on the inference thread as a foreground job,
        handed to the event loop as they come. A reader that stops early (or is cancelled)
        sets ``cancel``: the engine checks it between tokens."""
        self._enter_foreground()
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()

        def run() -> None:
            with closing(open_stream()) as made:
                for item in made:
                    loop.call_soon_threadsafe(items.put_nowait, item)

        finished = self._submit(FOREGROUND, run)
        # Settled after every item was handed over (call_soon_threadsafe keeps their order).
        finished.add_done_callback(lambda _done: items.put_nowait(_END))
        try:
            while (item := await items.get()) is not _END:
                yield item
            if finished.cancelled():
                raise asyncio.CancelledError("the inference queue shut down")
            if finished.exception() is not None:
                raise finished.exception()
        finally:
            cancel.set()
            self._foreground -= 1

    def _enter_foreground(self) -> None:
        self.last_foreground = time.monotonic()
        self._foreground += 1
        self._background_cancel.set()

    async def background(self, job: Callable[[threading.Event], T]) -> T | None:
        """Run ``job(cancel)`` when nothing in the foreground waits; None if something does, or
        if no model is loaded. A newer background job or any foreground job sets ``cancel``."""
        if self.busy() or self.completer is None:
            return None
        self._background_cancel.set()  # the newest background job replaces an older one
        cancel = self._background_cancel = threading.Event()
        self._background += 1
        try:
            return await self._submit(BACKGROUND, lambda: job(cancel))
        finally:
            self._background -= 1
            cancel.set()

    def busy(self) -> bool:
        """Whether a foreground job is queued or running."""
        return self._foreground > 0

    def idle(self) -> bool:
        """Whether no job at all is queued or running."""
        return not self._foreground and not self._background

    def preempt_background(self) -> None:
        """Stop the background job in progress at its next check."""
        self._background_cancel.set()

    def shutdown(self) -> None:
        """Stop taking jobs; queued ones are dropped, the running one finishes on its own."""
        self._background_cancel.set()
        with self._wake:
            self._closed = True
            for _priority, _order, _call, future, loop in self._jobs:
                loop.call_soon_threadsafe(future.cancel)
            self._jobs.clear()
            self._wake.notify()

    def _submit(self, priority: int, call: Callable[[], T]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._wake:
            if self._closed:
                future.cancel()
                return future
            heapq.heappush(self._jobs, (priority, next(self._order), call, future, loop))
            self._wake.notify()
        return future

    def _serve(self) -> None:
        while True:
            with self._wake:
                while not self._jobs and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                _priority, _order, call, future, loop = heapq.heappop(self._jobs)
            if future.cancelled():
                continue
            try:
                outcome = (call(), None)
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
                outcome = (None, error)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:
                return  # the event loop is closed: the process is exiting

    def _load(self, options: ModelOptions, retriever: Retriever | None) -> None:
        try:
            self.engine = options.open()
            self.engine.ready()
            self.completer = LlamaCompleter(self.engine, retriever)
            mode = self.engine.mode()
            logger.info("model loaded: %s, mode=%s: %s", self.engine.describe(), mode.name, mode.reason)
            entry = entry_for_file(resolve_model(options.path))
            mismatch = entry and fim_mismatch(entry, mode.fim.order if mode.fim else None)
            if mismatch:
                logger.warning("%s", mismatch)
        except (ModelLoadError, ModelNotFound, ValueError, OSError) as exc:
            self.error = load_error_message(options.path, exc)
            logger.error("%s", self.error)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the awaiting request was cancelled by the client meanwhile
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
