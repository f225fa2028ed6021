"""The keystroke path: a spot in the document in, a suggestion out.

:meth:`CompletionService.complete` reads top to bottom: type-through first (no model call), else
a :class:`CompletionRequest` made from the spot's cursor snapshot goes to the inference queue,
whose stream of values comes back here: the partial text is published to clients that stream
(with the confidence gate on, once the gate would show it), the finished result is judged by the
gate, kept for type-through and counted. The work that follows an answer or an edit is planned
by :class:`BackgroundWork`. No LSP types here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from contextlib import aclosing

from infill_lsp import gate
from infill_lsp.acceptance import AcceptanceStats
from infill_lsp.background import BackgroundWork
from infill_lsp.context import CursorSnapshot
from infill_lsp.document_state import DocumentState, DocumentStates
from infill_lsp.engine.request import CompletionRequest, CompletionResult
from infill_lsp.extensions import PartialCompletion
from infill_lsp.inference import InferenceQueue
from infill_lsp.keystroke import Answer, Spot
from infill_lsp.logs import log_completion
from infill_lsp.settings import Settings
from infill_lsp.workspace_context import WorkspaceContext

logger = logging.getLogger(__name__)


class CompletionService:
    """Owns the keystroke path; the background work it plans runs in :attr:`background`."""

    def __init__(self, queue: InferenceQueue, workspace: WorkspaceContext,
                 publish: Callable[[PartialCompletion], None], acceptance: AcceptanceStats) -> None:
        """``publish`` sends a partial suggestion to the client (a notification)."""
        self.queue, self.workspace, self.acceptance, self._publish = queue, workspace, acceptance, publish
        self.model_name = ""
        """The model's file name (set at ``initialize``): acceptance counts are per model."""
        self.documents, self.settings = DocumentStates(), Settings()
        self._suggestion_ids, self._sequence = itertools.count(1), itertools.count(1)
        self.background = BackgroundWork(queue, self.documents, self._suggestion_ids)
        self.client_streams = False
        """The client asked for partial suggestions (``completion.streaming`` asks too)."""

    async def complete(self, spot: Spot) -> Answer:
        """The suggestion at ``spot`` (no text for none); how it ended is kept for ``infill/explain``."""
        state = self.documents.state(spot.uri, spot.version)
        state.cancel_idle()
        threshold = self.acceptance.gate_threshold(self.settings.completion.confidence, spot.language, self.model_name)
        if (known := state.type_through.find(spot.cursor.prefix, spot.cursor.suffix)) is not None:
            entry, rest = known
            logger.info("completion id=%d uri=%s version=%s %s chars=%d", entry.suggestion_id, spot.uri, spot.version,
                        "speculative" if entry.speculative else "type_through", len(rest))
            self._shown(spot, state, rest, entry.suggestion_id)
            if self.settings.completion.speculate:  # the suggestion after this one, once the user pauses
                ahead = self.request(spot.cursor).at(spot.cursor.prefix + rest, speculative=True, label="speculation")
                self.background.speculate_after_pause(spot.uri, ahead, threshold)
            return Answer(rest, entry.suggestion_id)
        suggestion_id = next(self._suggestion_ids)
        request = self.request(spot.cursor, label=str(suggestion_id))
        await self.queue.wait_loaded()
        if self.queue.completer is None:
            logger.info("completion id=%d skipped: no_model", suggestion_id)
            state.note(spot.place, "no_model_at_request")
            return Answer("")
        started = time.perf_counter()
        result, streamed = await self._generate(request, spot, state, suggestion_id, threshold)
        verdict = gate.judge(result.text, result.scores, spot.cursor.prefix, threshold)
        log_completion(suggestion_id, spot.uri, spot.version, result, (time.perf_counter() - started) * 1000, verdict)
        shown = result.text if verdict is None else verdict.shown
        if len(streamed) > len(shown) and result.text.startswith(streamed):
            shown = streamed  # text already on screen stays there, whatever the whole suggestion's verdict
        if result.text:  # a held-back suggestion too (whole): it shows once the user types into it
            state.type_through.remember(spot.cursor.prefix, spot.cursor.suffix, shown or result.text, held=not shown,
                                        shortened=result.shortened, suggestion_id=suggestion_id)
        if shown:
            self._shown(spot, state, shown, suggestion_id)
        elif result.text:
            state.note(spot.place, "held_back", len(result.text), verdict)
            self.acceptance.held_back(spot.language, self.model_name)
        else:
            state.note(spot.place, result.reason)
        self._send(spot, shown, suggestion_id, done=True)  # streaming clients always get an end
        self.background.after_answer(spot.uri, request, result, shown, threshold)
        return Answer(shown, suggestion_id if shown else 0)

    def request(self, cursor: CursorSnapshot, **fields) -> CompletionRequest:
        """The model request at ``cursor``: its snapshot, the settings, where the file lies."""
        relative, repo = self.workspace.locate(cursor.document) if cursor.document else ("", "")
        return CompletionRequest.of(cursor, self.settings.completion, path=relative, repo=repo,
                                    context_tokens=self.settings.context.max_tokens, **fields)

    async def _generate(self, request: CompletionRequest, spot: Spot, state: DocumentState, suggestion_id: int,
                        threshold: float | None) -> tuple[CompletionResult, str]:
        """The result of ``request``, and what of it was streamed to the client as it came: its
        settled text, or with the gate on (``threshold``), the part the gate shows of it, only
        ever growing."""
        cancel = state.begin_request()
        streams = self.client_streams or self.settings.streaming
        result, sent = CompletionResult("", "", reason="engine_error"), ""
        completer = self.queue.completer
        try:
            async with aclosing(self.queue.stream(lambda: completer.stream(request, cancel), cancel)) as items:
                async for item in items:
                    if isinstance(item, CompletionResult):
                        result = item
                        continue
                    if not streams or cancel.is_set():
                        continue
                    settled = item.text[: item.settled]
                    if threshold is not None:
                        settled = gate.streamed_part(settled, item.scores, spot.cursor.prefix, threshold)
                        if len(settled) <= len(sent) or not settled.startswith(sent):
                            continue
                    if settled != sent:
                        if not sent:  # on screen from now: the user may accept it before it is finished
                            self.acceptance.shown(suggestion_id, spot.language, self.model_name)
                        sent = settled
                        self._send(spot, sent, suggestion_id, done=False)
        except asyncio.CancelledError:
            logger.info("completion uri=%s cancelled by the client", spot.uri)
            raise
        except Exception:
            # One bad request must not take the feature down: log it fully, answer empty.
            logger.exception("completion uri=%s failed in the engine", spot.uri)
        finally:
            state.end_request(cancel)
        if result.text and (state.version != spot.version or self.documents.get(spot.uri) is not state):
            result = CompletionResult("", result.mode, result.stats, reason="content_modified")
        return result, sent

    def _shown(self, spot: Spot, state: DocumentState, text: str, suggestion_id: int) -> None:
        state.note(spot.place, "shown", len(text))
        self.acceptance.shown(suggestion_id, spot.language, self.model_name)

    def _send(self, spot: Spot, text: str, suggestion_id: int, *, done: bool) -> None:
        if self.client_streams or self.settings.streaming:
            self._publish(PartialCompletion(spot.uri, spot.version, spot.line, spot.character, text,
                                            next(self._sequence), done, suggestion_id))

    def warm_after_edit(self, uri: str, version: int | None, cursor: CursorSnapshot, *,
                        idle_s: float | None = None) -> None:
        """After a pause (``idle_s``, default ``completion.warmIdleMs``), cache the prompt at ``cursor``."""
        idle_ms, path = self.settings.completion.warm_idle_ms, cursor.document
        if not idle_ms or not self.settings.completion.enabled or (path and self.workspace.privacy(path)):
            return  # a private file never becomes a prompt, not even one that is only evaluated
        self.background.after_edit(uri, version, self.request(cursor), idle_ms / 1000 if idle_s is None else idle_s)

    def closed(self, uri: str) -> None:
        """The document closed: its state, timers and growth go."""
        self.documents.close(uri)
        self.background.stop_growing(uri)

    def shutdown(self) -> None:
        self.acceptance.save()
        self.documents.close_all()
        self.background.stop()
        self.queue.shutdown()
