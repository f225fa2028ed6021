"""The remote :class:`~infill_lsp.engine.boundary.Engine`: the same token prompts, evaluated on an
inference server (llama-server or an OpenAI-compatible one such as vLLM).

The language server stays on the user's machine: it knows the buffers and the repository and
builds the prompt exactly as for the in-process model, tokenized with a vocabulary-only load of
the same GGUF (checked against the server's own tokenizer when it connects). The server only
evaluates and samples. What its cache holds is mirrored here from what was sent (the server
keeps the longest common prefix per slot, or per block for vLLM), so the prompt planner's
decisions stay the same.

A server that is down, slow or refusing the key turns into :class:`EngineUnavailable` with one
clear message, at once for every request until the next retry (backoff from half a second to
half a minute), so the editor never waits on a dead server.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections.abc import Iterator

from infill_lsp.engine.generation import Cancelled, EngineUnavailable, GenerationParams, GenerationStats
from infill_lsp.engine.http_client import HttpClient, RequestCancelled
from infill_lsp.engine.kv_reuse import common_prefix_length
from infill_lsp.engine.remote_cache import CacheMirror, Holder
from infill_lsp.engine.server_apis import RemoteParams, ServerApi, ServerFacts, choose_api
from infill_lsp.engine.vocabulary import Vocabulary, VocabularyFacts

logger = logging.getLogger(__name__)

FIRST_RETRY_S = 0.5
LAST_RETRY_S = 30.0
ASSUMED_PREFILL_TOKENS_PER_S = 1000.0
"""Until a prompt's evaluation has been timed by the server (a GPU server does several thousand)."""
BACKGROUND_REQUEST_S = 0.1
"""Server time one background request may take (see ``evaluate_prompt``)."""
_SPEED_SAMPLE = 128
_SPEED_WEIGHT = 0.3
_VOCABULARY_PROBE = "def parse_remote_config(path: str) -> dict:\n    return {'url': path}  # naïve ✓\n"


class RemoteEngine(VocabularyFacts):
    """Prompts evaluated and sampled on an inference server."""

    def __init__(self, vocabulary: Vocabulary, client: HttpClient, *, api: str = "auto", slot: int | None = None,
                 cache_salt: str | None = None, n_ctx: int = 0) -> None:
        """``slot``: the first of this user's llama-server slots (see ``remote_cache``);
        ``cache_salt``: this user's cache identity on vLLM; ``n_ctx``: tokens per sequence (0: what
        the server says)."""
        self.vocabulary = vocabulary
        self.encoder = vocabulary.encoder
        self.model_name = vocabulary.model_name
        self.client = client
        self.location = client.origin
        self.slot = slot
        self.cache_salt = cache_salt
        self.problem: str | None = None
        """Why the server cannot serve now, for the editor's status; None when it can."""
        self._api_setting = api
        self._api: ServerApi | None = None
        self._facts: ServerFacts | None = None
        self._n_ctx_setting = n_ctx
        self._prefill_tokens_per_s: float | None = None
        self._retry_at = 0.0
        self._backoff = FIRST_RETRY_S
        self._mirror = CacheMirror([])

    # -- what the planner asks --------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        """Tokens one sequence holds: the setting, at most the server's slot size, else the model's."""
        told = self._facts.n_ctx if self._facts else None
        if self._n_ctx_setting and told:
            return min(self._n_ctx_setting, told)
        return self._n_ctx_setting or told or min(self.vocabulary.model.n_ctx_train or 4096, 8192)

    def prefill_tokens_per_s(self) -> float:
        """The server's prompt speed, from the timings of its recent long prompts."""
        return self._prefill_tokens_per_s or ASSUMED_PREFILL_TOKENS_PER_S

    def reusable(self, tokens: list[int]) -> int:
        """The longest prefix of ``tokens`` the server holds from what this engine sent it."""
        return self._mirror.reusable(tokens)

    cached_prefix = reusable

    def describe(self) -> str:
        """One line for the log."""
        where = f"{self.client.origin} ({self._api.name if self._api else self._api_setting})"
        served = f", serving {self._facts.model}, {self._facts.slots or '?'} slots" if self._facts else ""
        state = f", unavailable: {self.problem}" if self.problem else ""
        return f"{self.model_name} on {where}{served}, n_ctx={self.n_ctx}{state}"

    def ready(self) -> None:
        """Connect now rather than on the first keystroke, and time a prompt the server has never
        seen, for the first prompts' time budget; a server that is down is only noted."""
        try:
            self._connected()
            probe = self.encoder.encode(f"# {time.time_ns()}\n" + _VOCABULARY_PROBE * 24)[:_SPEED_SAMPLE + 8]
            self.evaluate_prompt(probe, threading.Event(), GenerationStats())
        except (EngineUnavailable, Cancelled):
            pass

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate_prompt(self, tokens: list[int], cancel: threading.Event, stats: GenerationStats,
                        chunk_size: int = 0, *, background: bool = False, may_evict: bool = True) -> None:
        """Have the server cache ``tokens``. In the background the prompt goes in pieces of about
        ``BACKGROUND_REQUEST_S`` of server time each, a request per piece, each reusing what the
        last one left: a server cannot drop a batch it has begun, so a keystroke never waits
        behind more than one piece. Cancelling closes the request in flight."""
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context ({self.n_ctx})")
        stats.prompt_tokens = len(tokens)
        self._connected()
        holder = self._mirror.choose(tokens, beside=background and not may_evict)
        if holder is None:  # one slot, holding the prompt the user's keystrokes extend
            stats.stop_reason = "no_room"
            raise Cancelled(stats)
        step = max(chunk_size, int(self.prefill_tokens_per_s() * BACKGROUND_REQUEST_S)) if background else len(tokens)
        end = common_prefix_length(tokens, holder.tokens)
        started = time.perf_counter()
        while end < len(tokens) or not stats.prompt_ms:
            end = min(len(tokens), end + step)
            piece = GenerationStats()
            try:
                for event in self._stream(tokens[:end], RemoteParams(max_tokens=1, temperature=0.0, slot=holder.slot,
                                                                     cache_salt=self.cache_salt), cancel, holder):
                    self._note_timings(event, piece, started)
            except RequestCancelled:
                stats.stop_reason = "cancelled"
                stats.prompt_ms = (time.perf_counter() - started) * 1000
                raise Cancelled(stats) from None
            self._mirror.hold(holder, tokens[:end], foreground=not background)
            stats.evaluated_tokens += piece.evaluated_tokens
            stats.cached_tokens = stats.cached_tokens or piece.cached_tokens
            stats.prompt_ms = (time.perf_counter() - started) * 1000

    def refresh(self, cancel: threading.Event) -> GenerationStats:
        """Nothing to do: the server evaluates every prompt exactly (its cache reuse only moves
        cached text back, never after tokens inserted before it; docs/deploy.md)."""
        return GenerationStats(stop_reason="exact")

    def generate(self, tokens: list[int], params: GenerationParams, cancel: threading.Event,
                 stats: GenerationStats) -> Iterator[str]:
        """Stream a generation, yielding each token's text; closing the stream closes the request."""
        stats.prompt_tokens = len(tokens)
        started = time.perf_counter()
        api = self._connected()
        forced = params.forced_prefix
        # A server that cannot constrain the first tokens gets the healed text back at the end of
        # the prompt, spelled as the prompt spelled it (the unhealed prompt, for a partial word).
        prompt = tokens
        if forced and api.sends_forced_prefix_in_prompt:
            prompt = tokens + (list(params.forced_tokens) or self.encoder.encode_infilling(forced))
        holder = self._mirror.choose(prompt)
        remote = RemoteParams(
            max_tokens=params.max_tokens, temperature=params.temperature,
            stop_texts=tuple(self.vocabulary.detokenize([token]) for token in sorted(params.stop_tokens)),
            time_limit_ms=max(1, int((params.deadline - time.monotonic()) * 1000)) if params.deadline else 0,
            forced_prefix="" if api.sends_forced_prefix_in_prompt else forced, slot=holder.slot,
            cache_salt=self.cache_salt)
        ends_line = False
        generated: list[int] = []
        stats.stop_reason = "max_tokens"
        events = self._sampled(self._stream(prompt, remote, cancel, holder), stats, started)
        try:
            if api.sends_forced_prefix_in_prompt and forced:
                yield forced
            for token, piece in events:
                if not stats.generated_tokens:
                    stats.first_token_ms = (time.perf_counter() - started) * 1000
                stats.generated_tokens += 1
                model = self.vocabulary.model
                if token is not None and (model.is_end_of_generation(token) or token in params.stop_tokens):
                    stats.stop_reason = "end_of_text"
                    break
                if token is not None:
                    generated.append(token)
                ends_line = piece.endswith("\n") if piece else ends_line
                stats.stop_reason = "complete"  # if the reader closes the stream here
                yield piece
                stats.stop_reason = "max_tokens"
                if params.deadline is not None and ends_line and time.monotonic() > params.deadline:
                    stats.stop_reason = "deadline"
                    break
            else:
                if stats.generated_tokens < params.max_tokens:
                    stats.stop_reason = "end_of_text"  # the server stopped: end of generation or its time limit
        except RequestCancelled:
            stats.stop_reason = "cancelled"
        except EngineUnavailable:
            stats.stop_reason = "engine_unavailable"
            raise
        finally:
            events.close()  # the response stream closes with it
            # The slot holds the prompt and what was generated, all but the last token sampled.
            if stats.stop_reason not in ("cancelled", "engine_unavailable"):  # (no ids from a text-only server)
                self._mirror.hold(holder, prompt + generated[:-1], foreground=True)
            stats.total_ms = (time.perf_counter() - started) * 1000

    def _sampled(self, events, stats: GenerationStats, started: float):
        """Each sampled token and its text, from a stream of events: ``(None, text)`` when the
        server sends text only."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for event in events:
            self._note_timings(event, stats, started)
            if event.tokens:
                for token in event.tokens:
                    yield token, decoder.decode(self.vocabulary.model.piece(token))
            elif event.text:
                yield None, event.text

    # -- the connection -----------------------------------------------------------------------
    def _connected(self) -> ServerApi:
        """The API to use, connecting first if needed; raises while the server is failing."""
        if self._api is not None and self.problem is None:
            return self._api
        if self.problem is not None and time.monotonic() < self._retry_at:
            raise EngineUnavailable(self.problem)
        try:
            api = self._api or choose_api(self._api_setting, self.client)
            facts = api.facts(self.client)
            self._check_vocabulary(api, facts.model)
        except EngineUnavailable as error:
            raise self._failed(error) from None
        if self.problem is not None:
            logger.info("inference server %s is back", self.client.origin)
        self._api, self._facts, self.problem, self._backoff = api, facts, None, FIRST_RETRY_S
        self._mirror = CacheMirror(self._slots(api, facts), keeps_many=api.caches_many_prompts)
        return api

    def _slots(self, api: ServerApi, facts: ServerFacts) -> list[int | None]:
        """This user's slots: the configured one and the next, when the server has both."""
        if self.slot is None or api.caches_many_prompts:
            return [None]
        if facts.slots is not None and self.slot >= facts.slots:
            raise EngineUnavailable(f"{self.client.origin} has {facts.slots} slots: slot {self.slot} does not exist "
                                    "(engine.slot / --engine-slot)")
        return [self.slot, self.slot + 1] if facts.slots and self.slot + 1 < facts.slots else [self.slot]

    def _check_vocabulary(self, api: ServerApi, model: str) -> None:
        theirs = api.tokenize(self.client, _VOCABULARY_PROBE, model)
        if theirs is None:
            logger.warning("%s cannot tokenize: the vocabulary of %s is assumed to be the server model's",
                           self.client.origin, self.vocabulary.model.path)
        elif theirs != self.encoder.encode(_VOCABULARY_PROBE):
            raise EngineUnavailable(
                f"the vocabulary in {self.vocabulary.model.path} is not the one of the model on {self.client.origin} "
                f"({model}): pass --engine-vocab with the GGUF the server runs")

    def _stream(self, tokens: list[int], params: RemoteParams, cancel: threading.Event, holder: Holder):
        api = self._connected()
        path, body = api.completion(tokens, params, self._facts.model if self._facts else "")
        try:
            for event in self.client.stream(path, body, cancel):
                yield api.read(event)
        except EngineUnavailable as error:
            raise self._failed(error) from None
        except RequestCancelled:
            self._mirror.cancelled(holder, tokens)
            raise

    def _failed(self, error: EngineUnavailable) -> EngineUnavailable:
        """Note the failure, schedule the retry, forget what the server may have held."""
        if self.problem != str(error):
            logger.warning("inference server unavailable: %s (retrying in %.1f s)", error, self._backoff)
        self.problem = str(error)
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, LAST_RETRY_S)
        self._mirror.forget()
        return error

    def _note_timings(self, event, stats: GenerationStats, started: float) -> None:
        if event.evaluated is None:
            return
        stats.evaluated_tokens = event.evaluated
        stats.cached_tokens = event.cached or 0
        stats.prompt_ms = event.prompt_ms or (time.perf_counter() - started) * 1000
        if event.evaluated >= _SPEED_SAMPLE and event.prompt_ms:
            speed = event.evaluated / (stats.prompt_ms / 1000)
            known = self._prefill_tokens_per_s
            self._prefill_tokens_per_s = speed if known is None else known + _SPEED_WEIGHT * (speed - known)

    def close(self) -> None:
        """Drop the connection."""
        self.client.close()
