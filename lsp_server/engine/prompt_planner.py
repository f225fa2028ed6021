"""Which prompt a request gets: the full one, or one shortened to the time budget.

A prompt is the local window around the cursor plus repository context in the room left. When
evaluating what the KV cache lacks of it would take longer than ``promptBudgetMs``, the request
gets a short prompt instead (cached context, the definitions of the name being typed, a smaller
window of whole blocks), and the full prompt grows in the background (``full_to_grow``). The
planner remembers that decision while the user types on, and which repository context each
document's last whole prompt left in the cache, so that typing keeps reusing it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from infill_lsp.context import CursorSnapshot, Snippet, select
from infill_lsp.engine.boundary import Engine
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.fim.blocks import PromptMemo
from infill_lsp.fim.formats import CompletionMode
from infill_lsp.fim.healing import heal
from infill_lsp.fim.prompt import Prompt, Window, assemble, fit_window, render_context_frame, render_snippet
from infill_lsp.settings import CompletionSettings

_GENERATION_MARGIN = 8
"""Tokens kept free in the context besides the prompt and ``maxTokens``."""
_SNIPPET_CACHE_SIZE = 20_000
_MIN_CONTEXT_BUDGET = 32
_ALWAYS_AFFORDABLE = 64
"""A prompt with at most this many uncached tokens is never shortened (typing costs 1–3)."""
_MIN_WINDOW = 64
_REMEMBERED_CONTEXTS = 8
_WINDOW_SLACK = 4
"""A full window keeps its start while it stays within 1/4 of its budget (see ``_full_window``)."""
_REMEMBERED_STARTS = 64


class Retriever(Protocol):
    """Where repository context comes from (``context.Repository`` in the server and CLI)."""

    def gather(self, cursor: CursorSnapshot, window: tuple[int, int]) -> list[Snippet]:
        """Snippets for a prompt at ``cursor``, best first; ``window``: the lines already in it."""
        ...


@dataclass(frozen=True)
class _Shortened:
    """The decision to shorten a document's prompt, kept while the user types on in it."""

    key: tuple[str, str]
    """(document path, mode)."""
    context: list[int]
    """The repository context the short prompt keeps (framed), or nothing."""
    full_parts: list[list[int]]
    """The repository context of the full prompt at the time of the decision (its frame's opening,
    its chunks, its closing): what grows in the background, with the current window."""


class PromptPlanner:
    """Decides each request's prompt; remembers what the decisions left in the cache."""

    def __init__(self, engine: Engine, retriever: Retriever | None, prefill_speed: Callable[[], float]) -> None:
        self.engine = engine
        self.retriever = retriever
        self._prefill_speed = prefill_speed
        self._snippet_tokens: OrderedDict[tuple, list[int]] = OrderedDict()
        self._memo = PromptMemo()
        self._shortened: _Shortened | None = None
        self._cached_contexts: OrderedDict[tuple[str, str], list[list[int]]] = OrderedDict()
        """Per (document path, mode): the repository context (as parts) of its last whole prompt in the cache."""
        self._window_starts: dict[str, tuple[int, str]] = {}
        """Per document path: where its full window's text starts (an offset in the healed prefix),
        and the text around that offset (an edit before it moves the offset off its place)."""

    def prompt(self, request: CompletionRequest, mode: CompletionMode, *, within_budget: bool = True) -> Prompt:
        """Build the prompt: the local window first, then repository context in what is left.

        ``within_budget``: shorten a prompt that would take longer than ``promptBudgetMs`` to
        evaluate (see :meth:`_short_prompt`); background work passes False to get the full prompt.
        """
        settings = request.settings
        _room, window_budget = self._room(settings)
        budgeted = within_budget and bool(settings.prompt_budget_ms)
        allowance = settings.prompt_budget_ms / 1000 * self._prefill_speed() if budgeted else 0.0
        shortened = self._shortened_in(request, mode)
        if budgeted and shortened is not None:
            # Still shortened, and the full prompt has not been evaluated since: the decision
            # would be the same, so the repository context is not gathered again for it (that
            # gather and the tokenizing of new chunks cost more than the keystroke itself).
            return self._short_prompt(request, mode, shortened.context, window_budget, allowance)
        window, full, parts, first = self._full(request, mode)
        if not budgeted:
            return full
        key = (request.path, mode.name)
        affordable = max(allowance, _ALWAYS_AFFORDABLE)
        if len(full.tokens) - self.engine.reusable(full.tokens) <= affordable:
            self._shortened = None
            self._remember_context(key, parts)
            return full
        definitions = [parts[number] for number in sorted(first)]
        kept = self._cached_contexts.get(key)
        # A cached prompt without any context (it grew before the index had any) does not stay:
        # the context gathered now grows in, as for a cold file.
        if kept and kept != parts:
            # The context gathered now differs from the one in the cache (the index grew, the
            # cursor moved on): the cached one stays until the new one is evaluated in a pause,
            # rather than the prompt being shortened again and the full one grown again from
            # its first token. When even that prompt costs too much (much was typed since it
            # grew), it is the one that grows, in the sequence that holds it: only the text
            # typed since is new in it. The short prompt meanwhile continues the last short one,
            # with the definitions of the name being typed and no other chunk: chunks cached in
            # the growing sequence would have to be evaluated again in that one.
            staying = assemble(window, mode, bos=self.engine.bos_for_prefix_only(), context=_joined(kept))
            if len(staying.tokens) - self.engine.reusable(staying.tokens) <= affordable:
                self._shortened = None
                return staying
            context = _framed(kept, _joined(definitions))
            parts = kept
        else:
            context = self._cached_context(mode, full, parts, definitions)
        self._shortened = _Shortened(key, context, parts)
        return self._short_prompt(request, mode, context, window_budget, allowance)

    def full_to_grow(self, request: CompletionRequest, mode: CompletionMode) -> tuple[list[int], list[list[int]]]:
        """The full prompt to evaluate in the background, and its repository context (as parts).

        While the document's prompt is shortened, that is the repository context of the
        shortening decision with the window of ``request``: the context stays put (what already
        grew of it stays of use) while the window follows the typing, so that the prompt is
        whole at a recent text once it has grown, with only the last few keystrokes left."""
        shortened = self._shortened_in(request, mode)
        if shortened is None:
            _window, prompt, parts, _first = self._full(request, mode)
            return prompt.tokens, parts
        _room, window_budget = self._room(request.settings)
        window = self._full_window(request, mode, window_budget)
        prompt = assemble(window, mode, bos=self.engine.bos_for_prefix_only(), context=_joined(shortened.full_parts))
        return prompt.tokens, shortened.full_parts

    def grown(self, request: CompletionRequest, mode: CompletionMode, parts: list[list[int]]) -> None:
        """The full prompt with context ``parts`` is now cached: the next prompt is decided afresh."""
        self._remember_context((request.path, mode.name), parts)
        if self._shortened_in(request, mode) is not None:
            self._shortened = None

    def _room(self, settings: CompletionSettings) -> tuple[int, int]:
        """Tokens a prompt may take, and of them the local window's."""
        room = self.engine.n_ctx - settings.max_tokens - _GENERATION_MARGIN
        return room, max(16, min(settings.window_tokens, room))

    def _full(self, request: CompletionRequest,
              mode: CompletionMode) -> tuple[Window, Prompt, list[list[int]], set[int]]:
        """The full prompt: its window, the prompt, its context parts and which define the typed name."""
        room, window_budget = self._room(request.settings)
        window = self._full_window(request, mode, window_budget)
        bos = self.engine.bos_for_prefix_only()
        local = assemble(window, mode, bos=bos)
        parts, first = self._context_parts(request, mode, window, min(request.context_tokens, room - len(local.tokens)))
        full = assemble(window, mode, bos=bos, context=_joined(parts)) if parts else local
        return window, full, parts, first

    def _remember_context(self, key: tuple[str, str], parts: list[list[int]]) -> None:
        self._cached_contexts[key] = parts
        self._cached_contexts.move_to_end(key)
        if len(self._cached_contexts) > _REMEMBERED_CONTEXTS:
            self._cached_contexts.popitem(last=False)

    def _shortened_in(self, request: CompletionRequest, mode: CompletionMode) -> _Shortened | None:
        shortened = self._shortened
        return shortened if shortened is not None and shortened.key == (request.path, mode.name) else None

    def _full_window(self, request: CompletionRequest, mode: CompletionMode, budget: int) -> Window:
        """The full prompt's window, starting where the document's last one started while it stays
        within a quarter of the budget: typing on then only appends to the cached prompt. (Cut
        to the budget at each keystroke, the start would move on by a block every few lines
        typed, and back when text is deleted, and the whole window after it would be evaluated
        again, in the background growth too.)"""
        cursor = request.cursor
        start, mark = self._window_starts.get(request.path, (-1, ""))
        if start >= 0 and _mark(cursor.healed_prefix, start) == mark:
            text = cursor.healed_prefix[start:]
            window = fit_window(text, cursor.suffix, mode, self.engine.encoder, budget=budget, memo=self._memo,
                                prefix_slack=budget // _WINDOW_SLACK)
            size = len(window.prefix_tokens) + len(window.suffix_tokens)
            if len(window.prefix) == len(text) and size >= budget - budget // _WINDOW_SLACK:
                return self._healed(request, window)  # else the start moves on, or back up the file
        window = self._window(request, mode, budget)
        if len(self._window_starts) >= _REMEMBERED_STARTS and request.path not in self._window_starts:
            self._window_starts.pop(next(iter(self._window_starts)))
        start = len(cursor.healed_prefix) - len(window.prefix)
        self._window_starts[request.path] = (start, _mark(cursor.healed_prefix, start))
        return window

    def _window(self, request: CompletionRequest, mode: CompletionMode, budget: int, *,
                whole_blocks: bool = False) -> Window:
        cursor = request.cursor
        window = fit_window(cursor.healed_prefix, cursor.suffix, mode, self.engine.encoder, budget=budget,
                            memo=self._memo, whole_blocks=whole_blocks)
        return self._healed(request, window)

    def _healed(self, request: CompletionRequest, window: Window) -> Window:
        """The window with token healing applied: the whitespace at the cursor (already off the
        text) or the partial token the cursor cuts through goes to the model to write first."""
        trailing = request.cursor.trailing_whitespace
        if trailing or not request.settings.token_healing:
            return dataclasses.replace(window, forced=trailing)
        healing = heal(window.prefix_tokens, window.prefix, self.engine.pieces())
        if not healing.forced:
            return window
        return dataclasses.replace(window, prefix_tokens=window.prefix_tokens[:healing.kept], forced=healing.forced,
                                   forced_tokens=tuple(window.prefix_tokens[healing.kept:]))

    def _context_parts(self, request: CompletionRequest, mode: CompletionMode, window: Window,
                       budget: int) -> tuple[list[list[int]], set[int]]:
        """Repository context as token lists: the opening frame, one per chunk, the closing frame;
        and which of them define the name being typed."""
        if self.retriever is None or budget < _MIN_CONTEXT_BUDGET:
            return [], set()
        cursor = request.cursor
        first_line = cursor.line - window.prefix.count("\n")
        last_line = cursor.line + window.suffix.count("\n") + 1
        opening, closing = render_context_frame(request.repo or "workspace", request.path or "untitled", mode,
                                                self.engine.encoder)
        budget -= len(opening) + len(closing)
        if budget <= 0:
            return [], set()
        ranked = self.retriever.gather(cursor, (first_line, last_line))
        chosen = select(ranked, budget, lambda snippet: len(self.snippet_tokens(snippet, mode)))
        parts, first = [opening], set()
        for snippet in chosen:
            if snippet.at_cursor:
                first.add(len(parts))
            parts.append(self.snippet_tokens(snippet, mode))
        return (parts + [closing], first) if len(parts) > 1 else ([], set())

    def _cached_context(self, mode: CompletionMode, full: Prompt, parts: list[list[int]],
                        definitions: list[list[int]]) -> list[int]:
        """The repository context a shortened prompt keeps, framed: the chunks the cache already
        holds in place at the head of the full prompt (so the background evaluation of the full
        prompt extends this one's context), then the definitions of the name being typed, cached
        or not (they are small, and the first suggestion needs them most)."""
        in_place = self.engine.cached_prefix(full.tokens)
        head = 1 if (mode.fim.bos if mode.fim else self.engine.bos_for_prefix_only()) is not None else 0
        context: list[int] = []
        end = head + len(parts[0]) if parts else 0
        kept = 1
        for chunk in parts[1:-1]:
            end += len(chunk)
            if end > in_place:
                break
            context += chunk
            kept += 1
        for definition in definitions:
            if definition not in parts[1:kept]:
                context += definition
        return _framed(parts, context)

    def _short_prompt(self, request: CompletionRequest, mode: CompletionMode, context: list[int],
                      window_budget: int, allowance: float) -> Prompt:
        """A prompt that evaluates within ``allowance`` tokens: cached context, then a smaller window.

        The window budget is halved until the uncached part fits, and the window is always whole
        blocks, down to the block being typed in: its start stays put while the user types, so
        the next keystroke finds this prompt cached and evaluates only what was typed. (A window
        cut to a number of tokens would start one token later at each keystroke and never be reused.)
        """
        budget = window_budget
        while True:
            window = self._window(request, mode, budget, whole_blocks=True)
            prompt = assemble(window, mode, bos=self.engine.bos_for_prefix_only(), context=context)
            smallest = budget <= _MIN_WINDOW or len(window.prefix_tokens) + len(window.suffix_tokens) > budget
            if smallest or len(prompt.tokens) - self.engine.reusable(prompt.tokens) <= allowance:
                return dataclasses.replace(prompt, shortened=True)
            budget = max(_MIN_WINDOW, budget // 2)

    def snippet_tokens(self, snippet: Snippet, mode: CompletionMode) -> list[int]:
        """The snippet as it goes into a prompt in ``mode`` (chunks recur from keystroke to
        keystroke: each is tokenized once)."""
        key = (snippet.path, hash(snippet.text), mode.name, mode.fim.sep if mode.fim else None)
        tokens = self._snippet_tokens.get(key)
        if tokens is None:
            tokens = render_snippet(snippet.path, snippet.text, mode, self.engine.encoder)
            self._snippet_tokens[key] = tokens
            if len(self._snippet_tokens) > _SNIPPET_CACHE_SIZE:
                self._snippet_tokens.popitem(last=False)
        else:
            self._snippet_tokens.move_to_end(key)
        return tokens


def _mark(text: str, offset: int) -> str:
    """The text around ``offset``: it is still there if nothing before it was edited."""
    return text[max(0, offset - 64):offset + 64]


def _joined(parts: list[list[int]]) -> list[int]:
    return [token for part in parts for token in part]


def _framed(parts: list[list[int]], body: list[int]) -> list[int]:
    """``body`` inside the opening and closing frame of ``parts`` (nothing when it is empty)."""
    return parts[0] + body + parts[-1] if body else []
