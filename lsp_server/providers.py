"""Which completion providers the editor is offered, and changing them while it runs.

``completion.style`` decides between inline completion and the popup item (``popup.offer_for``).
An editor that allows dynamic registration of a provider (VS Code, coc.nvim, Sublime LSP,
lsp-mode) gets it registered after ``initialized`` instead of in the ``initialize`` answer, so a
later change of the style registers and unregisters providers in place. For an editor without
that, a provider can only be announced at ``initialize``: its part of the offer stays until the
server restarts, and the user is told so.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from lsprotocol import types

from infill_lsp.popup import Offer

logger = logging.getLogger(__name__)

POPUP_TRIGGER_CHARACTERS = ["."]
_IDS = {"inline": "infill/inline-completion", "popup": "infill/completion"}
_METHODS = {"inline": types.TEXT_DOCUMENT_INLINE_COMPLETION, "popup": types.TEXT_DOCUMENT_COMPLETION}
_pending: set[asyncio.Task] = set()


@dataclass(frozen=True)
class Dynamic:
    """Providers the editor lets the server register and unregister while it runs."""

    inline: bool = False
    popup: bool = False


def dynamic_support(capabilities: types.ClientCapabilities) -> Dynamic:
    text = capabilities.text_document
    inline = text.inline_completion if text else None
    completion = text.completion if text else None
    return Dynamic(inline=bool(inline and inline.dynamic_registration),
                   popup=bool(completion and completion.dynamic_registration))


def _registration(kind: str) -> types.Registration:
    options = (types.InlineCompletionRegistrationOptions(document_selector=None) if kind == "inline" else
               types.CompletionRegistrationOptions(document_selector=None,
                                                   trigger_characters=POPUP_TRIGGER_CHARACTERS))
    return types.Registration(id=_IDS[kind], method=_METHODS[kind], register_options=options)


async def _ask(call, what: str) -> bool:
    try:
        await asyncio.wait_for(call, 10)
        return True
    except Exception as exc:  # refused or unanswered: the editor shows what it registered before
        logger.warning("the editor did not accept %s (%s)", what, exc)
        return False


async def register_offered(server, offer: Offer, dynamic: Dynamic) -> None:
    """After ``initialized``: register the offered providers the editor takes dynamically."""
    kinds = [kind for kind in ("inline", "popup") if getattr(offer, kind) and getattr(dynamic, kind)]
    if kinds:
        await _ask(server.client_register_capability_async(
            types.RegistrationParams(registrations=[_registration(kind) for kind in kinds])), f"providers {kinds}")


def reachable_offer(current: Offer, wanted: Offer, dynamic: Dynamic) -> Offer:
    """``wanted``, except for the parts the editor cannot change while it runs."""
    return Offer(inline=wanted.inline if dynamic.inline else current.inline,
                 popup=wanted.popup if dynamic.popup else current.popup)


def change_offer(server, current: Offer, wanted: Offer, dynamic: Dynamic) -> Offer:
    """Go from ``current`` towards ``wanted``: the offer in force from now on is returned at once
    (requests that arrive meanwhile are answered by it), and the editor is told in the background;
    a part it cannot change while running stays as it was, and the user is told why."""
    reached = reachable_offer(current, wanted, dynamic)
    if reached != wanted:
        server.tell_user_once("style-restart", "Infill: this editor takes the new completion.style when the "
                              "language server restarts.", types.MessageType.Info)
    removed = [kind for kind in ("inline", "popup") if getattr(current, kind) and not getattr(reached, kind)]
    added = [kind for kind in ("inline", "popup") if getattr(reached, kind) and not getattr(current, kind)]
    task = asyncio.get_running_loop().create_task(_reregister(server, removed, added))
    _pending.add(task)  # held until done: the loop keeps only weak references to tasks
    task.add_done_callback(_pending.discard)
    return reached


async def _reregister(server, removed: list[str], added: list[str]) -> None:
    if removed:
        await _ask(server.client_unregister_capability_async(types.UnregistrationParams(
            unregisterations=[types.Unregistration(id=_IDS[kind], method=_METHODS[kind]) for kind in removed])),
            f"removing providers {removed}")
    if added:
        await _ask(server.client_register_capability_async(
            types.RegistrationParams(registrations=[_registration(kind) for kind in added])), f"providers {added}")
