"""The two inference-server APIs the remote engine speaks, as request bodies and event readers.

- **llama-server** ``/completion``: the prompt goes as token ids, so Infill's exact FIM layout,
  token healing and block order arrive unchanged; ``cache_prompt`` reuses the slot's longest
  common prefix; ``id_slot`` pins a user to a slot; each streamed event carries the sampled
  token ids; the last carries timings (tokens reused and evaluated). A healed prompt's forced
  text (whitespace, or the partial word at the cursor) becomes a grammar, so the first tokens
  spell it as in-process decoding does (without its preference for the prompt's own spelling).
- **OpenAI-compatible** ``/v1/completions`` (vLLM, llama-server's own): the prompt as a token id
  list, ``stop`` strings, ``cache_salt`` (vLLM) as the user's cache identity; prefix caching
  reuses whole blocks from the start of the prompt. Events carry text only, so forced
  text is appended to the prompt instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from infill_lsp.engine.generation import EngineUnavailable
from infill_lsp.engine.http_client import HttpClient

API_CHOICES = ("auto", "llama-server", "openai")


@dataclass(frozen=True)
class RemoteParams:
    """One generation request, in the terms both APIs share."""

    max_tokens: int
    temperature: float
    stop_texts: tuple[str, ...] = ()
    time_limit_ms: int = 0
    """After this long generating, stop at the next line end (0: no limit)."""
    forced_prefix: str = ""
    slot: int | None = None
    cache_salt: str | None = None


@dataclass
class Event:
    """What one streamed event says."""

    text: str = ""
    tokens: list[int] = field(default_factory=list)
    done: bool = False
    evaluated: int | None = None
    """Prompt tokens the server evaluated (None: it did not say)."""
    cached: int | None = None
    prompt_ms: float | None = None
    """How long the server took over the prompt."""


@dataclass(frozen=True)
class ServerFacts:
    """What the server says about itself when Infill connects."""

    model: str
    n_ctx: int | None
    slots: int | None


class ServerApi(Protocol):
    """One API dialect."""

    name: str
    sends_forced_prefix_in_prompt: bool
    """True when forced text cannot be a constraint and is appended to the prompt instead."""
    caches_many_prompts: bool
    """True when the server's cache keeps recent prompts beyond any slot (prefix caching)."""

    def facts(self, client: HttpClient) -> ServerFacts: ...

    def tokenize(self, client: HttpClient, text: str, model: str) -> list[int] | None:
        """The server's tokens for ``text`` (no special tokens), or None if it cannot say."""
        ...

    def completion(self, tokens: list[int], params: RemoteParams, model: str) -> tuple[str, dict]:
        """The path and body of a streamed completion."""
        ...

    def read(self, event: dict) -> Event: ...


class LlamaServerApi:
    name = "llama-server"
    sends_forced_prefix_in_prompt = False
    caches_many_prompts = False

    def facts(self, client: HttpClient) -> ServerFacts:
        props = client.get_json("/props")  # behind the API key, unlike /health: a bad key shows here
        settings = props.get("default_generation_settings") or {}
        model = str(props.get("model_alias") or props.get("model_path") or "llama-server")
        return ServerFacts(model, settings.get("n_ctx"), props.get("total_slots"))

    def tokenize(self, client: HttpClient, text: str, model: str) -> list[int] | None:
        body = {"content": text, "add_special": False, "parse_special": False}
        return [int(token) for token in client.post_json("/tokenize", body)["tokens"]]

    def completion(self, tokens: list[int], params: RemoteParams, model: str) -> tuple[str, dict]:
        body = {"prompt": tokens, "n_predict": params.max_tokens, "temperature": params.temperature,
                "samplers": ["top_k", "top_p",
                             "temperature"], "top_k": 40, "top_p": 0.95, "stream": True, "cache_prompt": True,
                "return_tokens": True, "timings_per_token": True}
        if params.time_limit_ms > 0:
            body["t_max_predict_ms"] = params.time_limit_ms
        if params.slot is not None:
            body["id_slot"] = params.slot
        if params.forced_prefix:
            body["grammar"] = forced_prefix_grammar(params.forced_prefix)
        if params.stop_texts:
            body["stop"] = list(params.stop_texts)
        return "/completion", body

    def read(self, event: dict) -> Event:
        _raise_error(event)
        timings = event.get("timings") or {}
        return Event(str(event.get("content") or ""), [int(t) for t in event.get("tokens") or []],
                     bool(event.get("stop")), timings.get("prompt_n"), timings.get("cache_n"), timings.get("prompt_ms"))


class OpenAiApi:
    name = "openai"
    sends_forced_prefix_in_prompt = True
    caches_many_prompts = True

    def facts(self, client: HttpClient) -> ServerFacts:
        models = client.get_json("/v1/models").get("data") or [{}]
        first = models[0]
        n_ctx = first.get("max_model_len") or (first.get("meta") or {}).get("n_ctx_train")
        return ServerFacts(str(first.get("id") or ""), n_ctx, None)

    def tokenize(self, client: HttpClient, text: str, model: str) -> list[int] | None:
        try:  # vLLM's endpoint; other OpenAI-compatible servers may have none
            answer = client.post_json("/tokenize", {"model": model, "prompt": text, "add_special_tokens": False})
        except EngineUnavailable:
            return None
        tokens = answer.get("tokens")  # llama-server's /tokenize takes "content": it answers [] here
        return [int(token) for token in tokens] if isinstance(tokens, list) and tokens else None

    def completion(self, tokens: list[int], params: RemoteParams, model: str) -> tuple[str, dict]:
        body = {"model": model, "prompt": tokens, "max_tokens": params.max_tokens, "temperature": params.temperature,
                "top_p": 0.95 if params.temperature > 0 else 1.0, "stream": True,
                "stream_options": {"include_usage": True}}
        if params.stop_texts:
            body["stop"] = list(params.stop_texts)
        if params.cache_salt:
            body["cache_salt"] = params.cache_salt
        return "/v1/completions", body

    def read(self, event: dict) -> Event:
        _raise_error(event)
        choices = event.get("choices") or [{}]
        usage = event.get("usage") or {}
        timings = event.get("timings") or {}  # llama-server adds its own
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", timings.get("cache_n"))
        evaluated = timings.get("prompt_n")
        if evaluated is None and usage.get("prompt_tokens") is not None and cached is not None:
            evaluated = usage["prompt_tokens"] - cached
        return Event(str(choices[0].get("text") or ""), [], choices[0].get("finish_reason") is not None or bool(usage),
                     evaluated, cached, timings.get("prompt_ms"))


def choose_api(name: str, client: HttpClient) -> ServerApi:
    """The dialect ``name`` names; ``auto`` asks the server (llama-server answers ``/props``)."""
    if name == "llama-server":
        return LlamaServerApi()
    if name == "openai":
        return OpenAiApi()
    try:
        client.get_json("/props")
        return LlamaServerApi()
    except EngineUnavailable as error:
        if "HTTP 404" in str(error):  # not llama-server; /v1/models will say whether OpenAI-compatible
            return OpenAiApi()
        raise


def forced_prefix_grammar(text: str) -> str:
    """A GBNF grammar: the output starts with ``text``, then anything."""
    escaped = "".join({"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}.get(c, c) for c in text)
    return f'root ::= "{escaped}" [^\\x00]*'


def _raise_error(event: dict) -> None:
    error = event.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise EngineUnavailable(f"the inference server stopped the answer: {message}")
