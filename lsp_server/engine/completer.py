"""The completion pipeline shared by the language server and the CLI.

text around the cursor → prompt tokens → generation, shaped token by token → suggestion.
``CompletionBackend`` is the seam: the server and the CLI only know this protocol, so a test
can drive them with any model file or backend without patching internals.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lsp_server.engine.llama_engine import Cancelled, GenerationParams, GenerationStats, LlamaEngine
from lsp_server.fim.blocks import PromptMemo
from lsp_server.fim.formats import CompletionMode
from lsp_server.fim.postprocess import Shaped, cursor_context, shape
from lsp_server.fim.prompt import (
    Prompt,
    Window,
    assemble,
    fit_window,
    normalize_newlines,
    render_context_frame,
    render_snippet,
)
from lsp_server.settings import CompletionSettings

ContextSource = Callable[[tuple[int, int], int, Callable[[object], int]], list]
"""``(window lines, token budget, cost of a chunk) → snippets``: see ``ContextEngine.gather``."""

logger = logging.getLogger(__name__)

_GENERATION_MARGIN = 8
"""Tokens kept free in the context besides the prompt and ``maxTokens``."""
_SNIPPET_CACHE_SIZE = 20_000
_MIN_CONTEXT_BUDGET = 32
_ALWAYS_AFFORDABLE = 64
"""A prompt with at most this many uncached tokens is never shortened (typing costs 1–3)."""
_MIN_WINDOW = 64
_REMEMBERED_CONTEXTS = 8
GROWTH_CHUNK = 8
"""Tokens per decode call when a full prompt grows in the background: about 40 ms of the bundled
model on 2 cores, so that a chunk ends in the gap between two keystrokes (a keystroke aborts
the chunk in progress, and only that chunk is lost)."""


@dataclass(frozen=True)
class _Shortened:
    """The decision to shorten a document's prompt, kept while the user types on in it."""

    key: tuple[str, str]
    """(document path, mode)."""
    context: list[int]
    """The repository context the short prompt keeps (framed), or nothing."""
    full: list[int]
    """The full prompt at the time of the decision: what grows in the background."""
    full_parts: list[list[int]]
    """The repository context of that full prompt: its frame's opening, its chunks, its closing."""


@dataclass(frozen=True)
class CompletionRequest:
    """Everything one suggestion depends on (a snapshot: no live document objects)."""

    prefix: str
    suffix: str
    settings: CompletionSettings
    path: str = ""
    """The document's workspace-relative path (file header in repository context)."""
    repo: str = ""
    """The workspace folder's name (``<repo_name>`` for models that have it)."""
    context: ContextSource | None = None
    """Where repository context comes from; None for none."""
    context_tokens: int = 0
    """Most tokens of repository context (``context.maxTokens``)."""
    label: str = ""
    """Names the request in debug logs (the server's request id)."""
    after_accept: bool = False
    """Computed ahead for the text after an acceptance: the next line is a fine suggestion, and
    the prompt must extend the one the user's last request left in the cache (a speculation that
    rearranged the cache would make the user's next keystroke re-evaluate it)."""


@dataclass(frozen=True)
class CompletionResult:
    """A finished suggestion, or an empty one with the named reason."""

    text: str
    mode: str
    stats: GenerationStats | None = None
    reason: str = ""
    shortened: bool = False
    """The prompt was cut to the time budget (see ``LlamaCompleter.prompt``): the full one is still to warm."""


class CompletionBackend(Protocol):
    """What the server and CLI need from a model. Methods run on the inference thread."""

    def complete(
        self, request: CompletionRequest, cancel: threading.Event, on_update: Callable[[Shaped], None]
    ) -> CompletionResult:
        """Generate one suggestion; ``on_update`` sees it grow; ``cancel`` stops it within a token."""
        ...

    def prompt(self, request: CompletionRequest, *, within_budget: bool = True) -> tuple[Prompt, CompletionMode]:
        """The exact prompt ``complete`` would evaluate, and the mode that shaped it."""
        ...

    def warm(self, request: CompletionRequest, cancel: threading.Event, *, beside: bool = True) -> GenerationStats:
        """Evaluate the full prompt of ``request`` into the cache without generating (background).
        ``beside``: never evict the prompt of the user's last request to find room."""
        ...


def split_healing(prefix: str) -> tuple[str, str]:
    """Token healing: the prefix as the prompt sees it, and the whitespace the model must generate.

    Tokenizers merge a newline with the next line's indentation (``"\\n   "`` is one token) and
    spaces with the next word (``" return"``), so a prompt that ends in whitespace ends in a
    token the model rarely saw there: after a lone ``"\\n"`` it writes top-level code. The
    trailing whitespace is taken off the prompt instead, and generation is constrained to
    produce it first (``GenerationParams.forced_prefix``).
    """
    kept = prefix.rstrip(" \t\r\n")
    return kept, prefix[len(kept):].replace("\r\n", "\n")


def healed_prefix(prefix: str) -> str:
    """The prefix as the prompt sees it (see :func:`split_healing`)."""
    return split_healing(prefix)[0]


class LlamaCompleter:
    """``CompletionBackend`` over a llama.cpp engine."""

    def __init__(self, engine: LlamaEngine, prefill_speed: Callable[[], float] | None = None) -> None:
        """``prefill_speed``: prompt tokens evaluated per second (default: the engine's measurement)."""
        self.engine = engine
        self._prefill_speed = prefill_speed or engine.prefill_tokens_per_s
        self._snippet_tokens: OrderedDict[tuple, list[int]] = OrderedDict()
        self._memo = PromptMemo()
        self._foreground_prompt = 0
        self._shortened: _Shortened | None = None
        self._cached_contexts: OrderedDict[tuple[str, str], list[list[int]]] = OrderedDict()
        """Per (document path, mode): the repository context (as parts) of its last whole prompt in the cache."""

    def prompt(self, request: CompletionRequest, *, within_budget: bool = True) -> tuple[Prompt, CompletionMode]:
        """Build the prompt: the local window first, then repository context in what is left.

        ``within_budget``: shorten a prompt that would take longer than ``promptBudgetMs`` to
        evaluate (see :meth:`_shortened`); background work passes False to get the full prompt.
        """
        settings = request.settings
        mode = self.engine.mode(settings.fim, settings.fim_order)
        _room, window_budget = self._room(settings)
        budgeted = within_budget and bool(settings.prompt_budget_ms)
        allowance = settings.prompt_budget_ms / 1000 * self._prefill_speed() if budgeted else 0.0
        shortened = self._shortened_in(request, mode)
        if budgeted and shortened is not None:
            # Still shortened, and the full prompt has not been evaluated since: the decision
            # would be the same, so the repository context is not gathered again for it (that
            # gather and the tokenizing of new chunks cost more than the keystroke itself).
            return self._short_prompt(request, mode, shortened.context, window_budget, allowance), mode
        window, full, parts, first = self._full(request, mode)
        if not budgeted:
            return full, mode
        key = (request.path, mode.name)
        affordable = max(allowance, _ALWAYS_AFFORDABLE)
        if len(full.tokens) - self.engine.reusable(full.tokens) <= affordable:
            self._shortened = None
            self._remember_context(key, parts)
            return full, mode
        definitions = [parts[number] for number in sorted(first)]
        kept = self._cached_contexts.get(key)
        if kept is not None and kept != parts:
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
                return staying, mode
            context = _framed(kept, _joined(definitions))
            full, parts = staying, kept
        else:
            context = self._cached_context(mode, full, parts, definitions)
        self._shortened = _Shortened(key, context, full.tokens, parts)
        return self._short_prompt(request, mode, context, window_budget, allowance), mode

    def _room(self, settings: CompletionSettings) -> tuple[int, int]:
        """Tokens a prompt may take, and of them the local window's."""
        room = self.engine.n_ctx - settings.max_tokens - _GENERATION_MARGIN
        return room, max(16, min(settings.window_tokens, room))

    def _full(self, request: CompletionRequest,
              mode: CompletionMode) -> tuple[Window, Prompt, list[list[int]], set[int]]:
        """The full prompt: its window, the prompt, its context parts and which define the typed name."""
        room, window_budget = self._room(request.settings)
        window = self._window(request, mode, window_budget)
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

    def _window(self, request: CompletionRequest, mode: CompletionMode, budget: int, *,
                whole_blocks: bool = False) -> Window:
        return fit_window(healed_prefix(request.prefix), request.suffix, mode, self.engine.encoder, budget=budget,
                          memo=self._memo, whole_blocks=whole_blocks)

    def _context_parts(self, request: CompletionRequest, mode: CompletionMode, window: Window,
                       budget: int) -> tuple[list[list[int]], set[int]]:
        """Repository context as token lists: the opening frame, one per chunk, the closing frame;
        and which of them define the name being typed."""
        if request.context is None or budget < _MIN_CONTEXT_BUDGET:
            return [], set()
        cursor_line = normalize_newlines(request.prefix).count("\n")
        first_line = cursor_line - window.prefix.count("\n")
        last_line = cursor_line + window.suffix.count("\n") + 1
        opening, closing = render_context_frame(request.repo or "workspace", request.path or "untitled", mode,
                                                self.engine.encoder)
        budget -= len(opening) + len(closing)

        def cost(chunk) -> int:
            return len(self._tokens_of(chunk.path, chunk.text, mode))

        snippets = request.context((first_line, last_line), budget, cost) if budget > 0 else []
        parts, first, used = [opening], set(), 0
        for snippet in snippets:
            tokens = self._tokens_of(snippet.path, snippet.text, mode)
            if used + len(tokens) > budget:
                break  # the source overshot its budget: the local window always keeps its room
            if snippet.at_cursor:
                first.add(len(parts))
            parts.append(tokens)
            used += len(tokens)
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

        The window
        budget is halved until the uncached part fits, and the window is always whole blocks,
        down to the block being typed in: its start stays put while the user types, so the next
        keystroke finds this prompt cached and evaluates only what was typed. (A window cut to a
        number of tokens would start one token later at each keystroke and never be reused.)
        """
        budget = window_budget
        while True:
            window = self._window(request, mode, budget, whole_blocks=True)
            prompt = assemble(window, mode, bos=self.engine.bos_for_prefix_only(), context=context)
            smallest = budget <= _MIN_WINDOW or len(window.prefix_tokens) + len(window.suffix_tokens) > budget
            if smallest or len(prompt.tokens) - self.engine.reusable(prompt.tokens) <= allowance:
                return dataclasses.replace(prompt, shortened=True)
            budget = max(_MIN_WINDOW, budget // 2)

    def warm(self, request: CompletionRequest, cancel: threading.Event, *, beside: bool = True) -> GenerationStats:
        """Evaluate the full prompt of ``request`` into the KV cache, so the next keystroke finds it there.

        While the document's prompt is shortened, that is the full prompt of the shortening
        decision: it grows over many gaps between keystrokes, and the text typed meanwhile
        costs the next full prompt a few tokens. ``beside``: only into free cells, never
        evicting the prompt the user's last request used (``no_room`` when they are full).
        """
        settings = request.settings
        mode = self.engine.mode(settings.fim, settings.fim_order)
        shortened = self._shortened_in(request, mode)
        if shortened is not None:
            tokens, parts = shortened.full, shortened.full_parts
        else:
            _window, prompt, parts, _first = self._full(request, mode)
            tokens = prompt.tokens
        stats = GenerationStats(prompt_tokens=len(tokens))
        if not tokens or cancel.is_set():
            stats.stop_reason = "cancelled" if cancel.is_set() else "empty_prompt"
            return stats
        try:
            self.engine.evaluate_prompt(tokens, cancel, stats, GROWTH_CHUNK, background=True, may_evict=not beside)
            stats.stop_reason = "warmed"
            self._remember_context((request.path, mode.name), parts)
            if shortened is not None:
                self._shortened = None  # the next prompt is decided afresh, and finds this one cached
        except Cancelled as stopped:
            stats = stopped.stats
        return stats

    def _tokens_of(self, path: str, text: str, mode: CompletionMode) -> list[int]:
        # Chunks recur from keystroke to keystroke: tokenize each once.
        key = (path, hash(text), mode.name, mode.fim.sep if mode.fim else None)
        tokens = self._snippet_tokens.get(key)
        if tokens is None:
            tokens = render_snippet(path, text, mode, self.engine.encoder)
            self._snippet_tokens[key] = tokens
            if len(self._snippet_tokens) > _SNIPPET_CACHE_SIZE:
                self._snippet_tokens.popitem(last=False)
        else:
            self._snippet_tokens.move_to_end(key)
        return tokens

    def complete(
        self, request: CompletionRequest, cancel: threading.Event, on_update: Callable[[Shaped], None]
    ) -> CompletionResult:
        """Run the whole pipeline for one request."""
        settings = request.settings
        prompt, mode = self.prompt(request)
        if not prompt.tokens:
            return CompletionResult("", mode.name, reason="empty_prompt")
        if logger.isEnabledFor(logging.DEBUG):  # prompts hold the user's code: debug level only
            text = b"".join(self.engine.model.piece(token, special=True) for token in prompt.tokens)
            logger.debug("prompt id=%s tokens=%d text=%r", request.label, len(prompt.tokens),
                         text.decode("utf-8", "replace"))
        if request.after_accept and self.engine.cached_prefix(prompt.tokens) < self._foreground_prompt - 1:
            return CompletionResult("", mode.name, reason="would_rearrange_cache")
        if cancel.is_set():
            stats = GenerationStats(prompt_tokens=len(prompt.tokens), stop_reason="cancelled")
            logger.info("generation cancelled before it started: %s", stats.summary())
            return CompletionResult("", mode.name, stats, reason="cancelled", shortened=prompt.shortened)
        cursor = cursor_context(normalize_newlines(request.prefix), normalize_newlines(request.suffix), settings.multiline,
                                after_accept=request.after_accept)
        raw = [""]
        forced = split_healing(request.prefix)[1]

        def on_text(text: str) -> bool:
            if forced.startswith(text):
                return True  # still inside the whitespace that healing took off the prompt
            raw[0] = text = text[len(forced):]  # the engine makes every output begin with ``forced``
            shaped = shape(text, cursor)
            on_update(shaped)
            return not shaped.done

        params = GenerationParams(
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            stop_tokens=mode.fim.stop_tokens if mode.fim else frozenset(),
            deadline=time.monotonic() + settings.time_budget_ms / 1000,
            forced_prefix=forced,
        )
        if not request.after_accept:
            self._foreground_prompt = len(prompt.tokens)
        try:
            stats = self.engine.generate(prompt.tokens, params, cancel, on_text)
        except Cancelled as stopped:
            stats = stopped.stats
        stats.extra["context"] = prompt.n_context_tokens
        if stats.stop_reason == "cancelled":
            logger.info("generation cancelled: %s", stats.summary())
            return CompletionResult("", mode.name, stats, reason="cancelled", shortened=prompt.shortened)
        text = shape(raw[0], cursor, final=True).text
        return CompletionResult(text, mode.name, stats, reason="" if text.strip() else "empty_suggestion",
                                shortened=prompt.shortened)


def _joined(parts: list[list[int]]) -> list[int]:
    return [token for part in parts for token in part]


def _framed(parts: list[list[int]], body: list[int]) -> list[int]:
    """``body`` inside the opening and closing frame of ``parts`` (nothing when it is empty)."""
    return parts[0] + body + parts[-1] if body else []
