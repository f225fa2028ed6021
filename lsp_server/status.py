"""The answers to ``infill/status`` and ``infill/explain``: what the server is doing, and why a
suggestion did or did not appear (see ``lsp_server/extensions.py`` for their wire shapes)."""

from __future__ import annotations

from infill_lsp import __version__
from infill_lsp.completion_service import CompletionService
from infill_lsp.explain import explain


def engine_problem(service: CompletionService) -> str | None:
    """Why the loaded engine cannot serve now (an inference server that is down), or None."""
    engine = service.queue.engine
    return engine.problem if engine is not None else None


def status(service: CompletionService, model_path: str | None, expecting_roots: bool) -> dict:
    """The ``infill/status`` answer."""
    queue, settings = service.queue, service.settings.completion
    loaded = queue.completer is not None
    # Not through the inference queue: a status must not wait behind a generation. The mode
    # only reads the vocabulary, which is fixed once the model is loaded.
    mode = queue.engine.mode(settings.fim, settings.fim_order) if loaded else None
    return {
        "version": __version__, "model": model_path, "loaded": loaded,
        "error": queue.error or engine_problem(service), "engine": queue.engine.location if loaded else None,
        "mode": mode.name if mode else None, "modeReason": mode.reason if mode else None,
        "enabled": settings.enabled, "acceptance": service.acceptance.snapshot(),
        **service.workspace.status(expecting_roots),
    }


def explain_spot(service: CompletionService, uri: str, refused: str, version: int | None, line: int,
                 character: int) -> dict:
    """The ``infill/explain`` answer: ``refused`` is the edge's reason to refuse the spot, or ''."""
    state = service.documents.get(uri)
    return explain(refused, service.queue.completer is not None, service.queue.error, state.outcome if state else None,
                   version, line, character, engine_problem(service))
