"""The per-keystroke flow: a spot in the document in, a suggestion out, and the work it plans ahead.

One request reads top to bottom in :meth:`CompletionService.complete`: type-through first (no
model call), else a :class:`CompletionRequest` (a cursor snapshot, never a live document) goes to
the inference queue at foreground priority, its partial text streams to the client as it
settles, and the answer plans the background work that follows it: growing a shortened prompt,
the speculative next suggestion. Edits plan a warm-up for when the user pauses.

No LSP types here: the server converts positions and documents at its edge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infill_lsp import __version__, gate
from infill_lsp.acceptance import AcceptanceStats
from infill_lsp.background import BackgroundWork
from infill_lsp.document_state import DocumentStates, DocumentState
from infill_lsp.engine.request import CompletionRequest, CompletionResult
from infill_lsp.explain import explain
from infill_lsp.extensions import PartialCompletion
from infill_lsp.fim.postprocess import Shaped
from infill_lsp.inference import InferenceQueue
from infill_lsp.settings import Settings
from infill_lsp.workspace_context import WorkspaceContext

logger = logging.getLogger(__name__)

SPECULATION_IDLE_SECONDS = 0.15
"""Quiet time after a suggestion before the next one is computed ahead (typing goes first)."""


@dataclass(frozen=True)
class Spot:
    """Where a request is: the document, its version, the cursor, and the text split there."""

    uri: str
    version: int | None
    line: int
    character: int
    path: Path
    prefix: str
    suffix: str
    language: str = ""
    """The editor's language id (the file's extension when it sends none): acceptance counts and
    the gate's threshold are per language."""


@dataclass(frozen=True)
class Answer:
    """What the edge returns for one request: the text ('' for none) and the id the editor's
    acceptance command names."""

    text: str
    suggestion_id: int = 0


class CompletionService:
    """Owns the keystroke path and the background work it starts."""

    def __init__(self, queue: InferenceQueue, workspace: WorkspaceContext,
                 send_partial: Callable[[PartialCompletion], None], acceptance: AcceptanceStats) -> None:
        self.queue = queue
        self.acceptance = acceptance
        self.model_name = ""
        """The model's file name (set at ``initialize``): acceptance counts are per model."""
        self.workspace = workspace
        self.documents = DocumentStates()
        self.background = BackgroundWork(queue)
        self.settings = Settings()
        self.client_streams = False
        """The client asked for partial suggestions (``completion.streaming`` asks too)."""
        self._send_partial = send_partial
        self._sequence = itertools.count(1)
        self._request_ids = itertools.count(1)

    async def complete(self, spot: Spot) -> Answer:
        """The suggestion at ``spot`` (no text for none); the reason is kept for ``infill/explain``."""
        request_id = next(self._request_ids)
        state = self.documents.state(spot.uri, spot.version)
        state.cancel_idle()
        started = time.perf_counter()
        known = state.type_through.find(spot.prefix, spot.suffix)
        if known is not None:
            entry, rest = known
            suggestion_id = entry.suggestion_id
            how = "speculative" if entry.speculative else "type_through"
            logger.info("completion id=%d uri=%s version=%s %s chars=%d", request_id, spot.uri, spot.version, how,
                        len(rest))
            state.note(spot.version, spot.line, spot.character, "shown", len(rest))
            self.acceptance.shown(suggestion_id, spot.language, self.model_name)
            self._follow_up(spot, spot.prefix + rest)
            return Answer(rest, suggestion_id)
        request = dataclasses.replace(self._request(spot.path, spot.prefix, spot.suffix), label=str(request_id))
        await self.queue.wait_loaded()
        if self.queue.backend is None:
            logger.info("completion id=%d skipped: no_model", request_id)
            state.note(spot.version, spot.line, spot.character, "no_model_at_request")
            return Answer("")
        result, verdict = await self._run(request, spot, state, request_id)
        _log_result(request_id, spot, result, started, verdict)
        if verdict is not None and not verdict.show:
            state.note(spot.version, spot.line, spot.character, "held_back", len(result.text), verdict)
            self.acceptance.held_back(spot.language, self.model_name)
            state.type_through.remember(spot.prefix, spot.suffix, result.text, shortened=result.shortened,
                                        suggestion_id=request_id, held=True)
            result = dataclasses.replace(result, text="", reason="held_back")
        else:
            state.note(spot.version, spot.line, spot.character, "shown" if result.text else result.reason,
                       len(result.text))
        if result.text:
            state.type_through.remember(spot.prefix, spot.suffix, result.text, shortened=result.shortened,
                                        suggestion_id=request_id)
            self.acceptance.shown(request_id, spot.language, self.model_name)
        if result.shortened:
            self._grow(spot.uri, request)
        elif result.stats is not None and result.reason != "cancelled":
            self.background.stop_growing(spot.uri)  # this prompt was whole: nothing left to grow
        if result.reason not in ("cancelled", "content_modified"):  # else a newer request follows up
            self._follow_up(spot, spot.prefix + result.text, speculate=bool(result.text),
                            refresh=bool(result.stats and result.stats.extra.get("stale")))
        return Answer(result.text, request_id if result.text else 0)

    def threshold(self, language: str) -> float | None:
        """The confidence gate's threshold for ``language`` under ``completion.confidence``, or
        None when the gate is off."""
        setting = self.settings.completion.confidence
        if setting == "off":
            return None
        if setting == "auto":
            return self.acceptance.threshold(language, self.model_name, gate.THRESHOLD)
        return float(setting)

    def accepted(self, suggestion_id: int, chars: int, *, part: bool) -> None:
        """The editor says the user accepted (all, or with ``part`` a word or line of) a suggestion."""
        known = self.acceptance.accepted(suggestion_id, chars, part=part)
        logger.info("accepted id=%d chars=%d%s%s", suggestion_id, chars, " part" if part else "",
                    "" if known else " (not a recent suggestion)")

    def refused(self, uri: str, version: int | None, line: int, character: int, reason: str) -> None:
        """The edge refused a request before any model work (``reason``: a code of ``explain``)."""
        self.documents.state(uri, version).note(version, line, character, reason)

    async def _run(self, request: CompletionRequest, spot: Spot, state: DocumentState,
                   request_id: int) -> tuple[CompletionResult, gate.Verdict | None]:
        """Generate, streaming partial text to clients that want it, and judge the result. While
        the gate is on, nothing streams before its verdict: it reads the whole first line."""
        loop = asyncio.get_running_loop()
        cancel = state.begin_request()
        sent = [""]
        threshold = self.threshold(spot.language)

        def publish(shaped: Shaped, done: bool = False) -> None:
            text = shaped.text[: shaped.settled] if not done else shaped.text
            streams = self.client_streams or self.settings.streaming
            if not streams or (text == sent[0] and not done) or cancel.is_set() and not done:
                return
            if threshold is not None and not done:
                return
            sent[0] = text
            self._send_partial(PartialCompletion(spot.uri, spot.version, spot.line, spot.character, text,
                                                 next(self._sequence), done, request_id))

        def on_update(shaped: Shaped) -> None:
            loop.call_soon_threadsafe(publish, shaped)

        try:
            result = await self.queue.foreground(self.queue.backend.complete, request, cancel, on_update)
        except asyncio.CancelledError:
            logger.info("completion uri=%s cancelled by the client", spot.uri)
            raise
        except Exception:
            # One bad request must not take the feature down: log it fully, answer empty.
            logger.exception("completion uri=%s failed in the engine", spot.uri)
            return CompletionResult("", "", reason="engine_error"), None
        finally:
            state.end_request(cancel)
        if result.text and (state.version != spot.version or self.documents.get(spot.uri) is not state):
            result = CompletionResult("", result.mode, result.stats, reason="content_modified")
        verdict = gate.judge(result.text, result.logprobs, spot.prefix, threshold)
        shown = result.text if verdict is None or verdict.show else ""
        publish(Shaped(shown, True, len(shown)), done=True)  # streaming clients always get an end
        return result, verdict

    def _request(self, path: Path, prefix: str, suffix: str) -> CompletionRequest:
        relative, repo = self.workspace.locate(path)
        return CompletionRequest(prefix, suffix, self.settings.completion, path=relative, repo=repo, document=path,
                                 context_tokens=self.settings.context.max_tokens)

    def _follow_up(self, spot: Spot, prefix: str, *, speculate: bool = True, refresh: bool = False) -> None:
        """Once the user pauses: make the cached prompt exact where typing shifted it into place
        (``refresh``), then compute the suggestion for the text after an acceptance.

        Not the suggestion while the document's full prompt grows: it would come from a shortened
        prompt, be dropped once the context is in, and take the gaps the growth needs."""
        state = self.documents.state(spot.uri)
        speculate = (speculate and self.settings.completion.speculate
                     and state.type_through.lookup(prefix, spot.suffix) is None)
        if not (speculate or refresh):
            return

        async def follow_up() -> None:
            backend = self.queue.backend
            if refresh:
                stats = await self.background.run(backend.refresh)
                if stats is not None:
                    logger.info("refresh uri=%s %s", spot.uri, stats.summary())
            if not speculate or self.background.growing(spot.uri):
                return
            request = dataclasses.replace(self._request(spot.path, prefix, spot.suffix), after_accept=True,
                                          label="speculation")
            result = await self.background.run(lambda cancel: backend.complete(request, cancel, lambda _shaped: None))
            if result is None:
                return
            verdict = gate.judge(result.text, result.logprobs, prefix, self.threshold(spot.language))
            if result.text and (verdict is None or verdict.show):
                state.type_through.remember(prefix, spot.suffix, result.text, speculative=True,
                                            shortened=result.shortened, suggestion_id=next(self._request_ids))
            stats = result.stats.summary() if result.stats else f"skipped: {result.reason}"
            logger.info("speculation uri=%s chars=%d %s", spot.uri, len(result.text), stats)

        state.after_idle(SPECULATION_IDLE_SECONDS, lambda: self.background.start(follow_up))

    def _grow(self, uri: str, request: CompletionRequest) -> None:
        """The prompt of ``request`` was shortened: its full prompt grows between the keystrokes
        that follow, and once it is whole the next keystroke gets all of its context. A growth
        already under way goes on with this newer keystroke's prompt."""
        backend = self.queue.backend
        started = time.perf_counter()

        def grown(stats) -> None:
            logger.info("grown uri=%s ms=%.0f stop=%s", uri, (time.perf_counter() - started) * 1000, stats.stop_reason)
            self._context_is_in(uri, stats)

        self.background.grow(uri, lambda cancel, beside: backend.warm(request, cancel, beside=beside), grown)

    def _context_is_in(self, uri: str, stats) -> None:
        """After a warm-up: once the full prompt is cached, suggestions made without its context go."""
        state = self.documents.get(uri)
        if stats.stop_reason == "warmed" and state is not None:
            state.type_through.forget_shortened()

    def warm_after_edit(self, uri: str, version: int | None, path: Path, text: str, cursor: int, *,
                        idle_s: float | None = None) -> None:
        """Once the user pauses without asking for a suggestion (``idle_s``, default
        ``completion.warmIdleMs``), evaluate the prompt at ``cursor`` of ``text`` (version ``version``)."""
        idle_ms = self.settings.completion.warm_idle_ms
        if not idle_ms or not self.settings.completion.enabled or self.workspace.privacy(path):
            return  # a private file never becomes a prompt, not even one that is only evaluated
        state = self.documents.state(uri, version)

        async def warm() -> None:
            await self.queue.wait_loaded()
            if state.version != version or self.documents.get(uri) is not state or self.queue.backend is None:
                return  # edited or closed since
            backend, request = self.queue.backend, self._request(path, text[:cursor], text[cursor:])
            stats = await self.background.run(lambda cancel: backend.warm(request, cancel))
            if stats is not None:
                logger.info("warm uri=%s version=%s %s", uri, version, stats.summary())
                self._context_is_in(uri, stats)

        state.after_idle(idle_ms / 1000 if idle_s is None else idle_s, lambda: self.background.start(warm))

    def explain(self, uri: str, gate: str, version: int | None, line: int, character: int) -> dict:
        """The ``infill/explain`` answer: ``gate`` is the edge's reason to refuse the spot, or ''."""
        state = self.documents.get(uri)
        return explain(gate, self.queue.backend is not None, self.queue.error, state.outcome if state else None,
                       version, line, character, self.engine_problem())

    def engine_problem(self) -> str | None:
        """Why the loaded engine cannot serve now (an inference server that is down), or None."""
        engine = self.queue.engine
        return engine.problem if engine is not None else None

    def status(self, model_path: str | None, expecting_roots: bool) -> dict:
        """The ``infill/status`` answer (see ``lsp_server/extensions.py``)."""
        settings, loaded = self.settings.completion, self.queue.backend is not None
        # Not through the inference queue: a status must not wait behind a generation. The mode
        # only reads the vocabulary, which is fixed once the model is loaded.
        mode = self.queue.engine.mode(settings.fim, settings.fim_order) if loaded else None
        return {
            "version": __version__, "model": model_path, "loaded": loaded,
            "error": self.queue.error or self.engine_problem(), "engine": self.queue.engine.location if loaded else None,
            "mode": mode.name if mode else None, "modeReason": mode.reason if mode else None,
            "enabled": settings.enabled, "acceptance": self.acceptance.snapshot(),
            **self.workspace.status(expecting_roots),
        }

    def closed(self, uri: str) -> None:
        """The document closed: its state, timers and growth go."""
        self.documents.close(uri)
        self.background.stop_growing(uri)

    def shutdown(self) -> None:
        self.acceptance.save()
        self.documents.close_all()
        self.background.stop()
        self.queue.shutdown()


def _log_result(request_id: int, spot: Spot, result: CompletionResult, started: float,
                verdict: gate.Verdict | None) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    stats = result.stats.summary() if result.stats else ""
    outcome = f"chars={len(result.text)}" if result.text else f"empty: {result.reason}"
    if verdict is not None:
        outcome += f" confidence={verdict.confidence:.3f}" + ("" if verdict.show else " held_back")
    if result.shortened:
        outcome += " shortened"
    logger.info("completion id=%d uri=%s version=%s mode=%s %s ms=%.0f %s",
                request_id, spot.uri, spot.version, result.mode, outcome, elapsed, stats)
    logger.debug("completion id=%d text=%r", request_id, result.text)
