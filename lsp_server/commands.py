"""The terminal subcommands: ``complete``, ``prompt`` and ``check``.

They run the very pipeline the server runs (:class:`LlamaCompleter`), so what a user sees here
is what the editor gets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from infill_lsp.catalog import ModelNotFound, entry_for_file, fim_mismatch, recommend
from infill_lsp.catalog_commands import memory_bytes
from infill_lsp.context import Repository
from infill_lsp.documents import lsp_lines
from infill_lsp.engine.boundary import Engine, run_to_end
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.generation import GenerationParams, GenerationStats
from infill_lsp.engine.models import ModelOptions, default_model_path, load_error_message
from infill_lsp.engine.native_backend import gpu_memory, supports_gpu_offload
from infill_lsp.engine.remote_engine import RemoteEngine
from infill_lsp.engine.request import CompletionRequest, CompletionResult
from infill_lsp.settings import CompletionSettings

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Larger files are refused: they are not source code a user completes in."""
CHECK_PROMPT_TOKENS = 512
CHECK_GENERATED_TOKENS = 64


class UsageError(Exception):
    """A bad file or position given on the command line."""


def load_engine_or_exit(options: ModelOptions):
    """Load the model for a terminal command, or explain why not and exit 2."""
    from infill_lsp.engine.native import ModelLoadError

    try:
        return options.open()
    except (ModelLoadError, ModelNotFound, ValueError, OSError) as exc:
        print(load_error_message(options.path, exc), file=sys.stderr)
        raise SystemExit(2) from exc


def print_json(data: object) -> None:
    """Pretty JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def read_source(path: str) -> str:
    """The text of a source file, refusing binary and huge files with a clear message."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if b"\0" in data[:8192]:
        raise UsageError(f"{path} looks binary")
    return data.decode("utf-8", "replace")


def split_at(text: str, line: int, character: int) -> tuple[str, str]:
    """Split text at a 1-based line and column (columns count characters; lines end only at
    ``\n``, ``\r\n`` and ``\r``, as in the editor: see :func:`lsp_lines`)."""
    lines = list(lsp_lines(text)) or [""]
    if text.endswith(("\n", "\r")):
        lines.append("")
    if not 1 <= line <= len(lines):
        raise UsageError(f"line {line} is outside the file (1–{len(lines)})")
    body = lines[line - 1].rstrip("\r\n")
    if not 1 <= character <= len(body) + 1:
        raise UsageError(f"column {character} is outside line {line} (1–{len(body) + 1})")
    offset = sum(len(item) for item in lines[: line - 1]) + character - 1
    return text[:offset], text[offset:]


def workspace_of(path: Path, given: str | None) -> Path:
    """``--workspace``, else the nearest folder with a ``.git``, else the file's folder."""
    if given:
        return Path(given).resolve()
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def _request(args: argparse.Namespace) -> tuple[CompletionRequest, Repository | None]:
    """The request at the file position, and the indexed repository its context comes from."""
    path = Path(args.file)
    prefix, suffix = split_at(read_source(args.file), args.line, args.character)
    settings = CompletionSettings(
        max_tokens=args.max_tokens, multiline=args.multiline, temperature=args.temperature,
        fim=args.fim, fim_order=args.fim_order,
        prompt_budget_ms=0,  # one suggestion, no background to grow a shortened prompt: always the full one
    )
    if args.context_tokens <= 0:
        return CompletionRequest(prefix, suffix, settings, path=path.name), None
    root = workspace_of(path, args.workspace)
    repository = Repository()
    repository.add_folder(root)
    started = time.perf_counter()
    count = repository.index_all()
    print(f"--- context: {count} files of {root} indexed in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    located = repository.locate(path)
    return CompletionRequest(prefix, suffix, settings, path=located[1] if located else path.name, repo=root.name,
                             document=path, context_tokens=args.context_tokens), repository


def run(args: argparse.Namespace, options: ModelOptions) -> int:
    """Dispatch a subcommand; returns the exit status."""
    try:
        request, retriever = _request(args) if args.command in ("complete", "prompt") else (None, None)
    except UsageError as exc:
        print(f"infill-lsp {args.command}: {exc}", file=sys.stderr)
        return 2
    engine = load_engine_or_exit(options)
    try:
        if args.command == "complete":
            return complete(LlamaCompleter(engine, retriever), request)
        if args.command == "prompt":
            return show_prompt(LlamaCompleter(engine, retriever), request, as_json=args.json)
        return check(engine)
    finally:
        engine.close()


def complete(completer: LlamaCompleter, request: CompletionRequest) -> int:
    """Stream the suggestion to stdout as it settles, then timings to stderr."""
    printed = ""
    for item in completer.stream(request, threading.Event()):
        if isinstance(item, CompletionResult):
            result = item
            continue
        settled = item.text[: item.settled]
        if len(settled) > len(printed) and settled.startswith(printed):
            sys.stdout.write(settled[len(printed):])
            sys.stdout.flush()
            printed = settled
    sys.stdout.write(result.text[len(printed):] + "\n")
    sys.stdout.flush()
    mode = completer.mode(request.settings)
    print(f"--- mode: {mode.name} ({mode.reason})", file=sys.stderr)
    if result.stats:
        print(f"--- {_timings(result.stats)}", file=sys.stderr)
    if not result.text:
        problem = completer.engine.problem
        print(f"--- no suggestion: {result.reason}" + (f": {problem}" if problem else ""), file=sys.stderr)
    return 0


def _timings(stats: GenerationStats) -> str:
    return (
        f"prompt {stats.prompt_tokens} tokens ({stats.cached_tokens} cached, {stats.evaluated_tokens} evaluated "
        f"in {stats.prompt_ms:.0f} ms); first token {stats.first_token_ms:.0f} ms; "
        f"{stats.generated_tokens} tokens in {stats.total_ms:.0f} ms ({stats.tokens_per_second:.1f} tokens/s); "
        f"stop: {stats.stop_reason}"
    )


def show_prompt(completer: LlamaCompleter, request: CompletionRequest, *, as_json: bool) -> int:
    """Print the prompt's mode, reason and every token with its piece."""
    prompt, mode = completer.prompt(request)
    tokens = [{"id": token, "piece": completer.engine.detokenize([token])}
              for token in prompt.tokens]
    if as_json:
        print_json({
            "mode": mode.name, "reason": mode.reason, "tokens": tokens,
            "prefixTokens": prompt.n_prefix_tokens, "suffixTokens": prompt.n_suffix_tokens,
            "prefixChars": len(prompt.prefix), "suffixChars": len(prompt.suffix), "healed": prompt.forced,
        })
        return 0
    print(f"mode: {mode.name}\nreason: {mode.reason}")
    print(f"tokens: {len(tokens)} (prefix {prompt.n_prefix_tokens}, suffix {prompt.n_suffix_tokens})")
    if prompt.forced:
        print(f"healed: {prompt.forced!r} (taken off the prompt: the model writes it first)")
    for index, token in enumerate(tokens):
        print(f"{index:6d} {token['id']:8d}  {token['piece']!r}")
    return 0


def check(engine: Engine) -> int:
    """Report the model's facts and measure prompt and generation speed."""
    if isinstance(engine, RemoteEngine):
        return check_remote(engine)
    model, mode = engine.model, engine.mode()
    special = model.special
    fim_ids = f"pre={special.fim_pre} suf={special.fim_suf} mid={special.fim_mid} eot={special.eot}"
    offload = "available" if supports_gpu_offload() else "not compiled in (CPU only)"
    print(f"model:          {model.path}")
    print(f"name:           {engine.model_name}")
    print(f"architecture:   {engine.architecture} ({model.description()}, {model.size_bytes() / 2**20:.0f} MiB)")
    print(f"context:        trained {model.n_ctx_train}, using {engine.n_ctx}")
    print(f"FIM:            {mode.name}: {mode.reason}")
    print(f"FIM tokens:     {fim_ids}")
    print(f"GPU offload:    {offload}; {model.n_gpu_layers if supports_gpu_offload() else 0}/{model.n_layer} layers")
    print(f"threads:        {engine.n_threads}")
    print(f"flash attn:     {engine.flash_attention}")
    generation_speed = print_speed(engine)
    print_recommendation(model.path, mode.fim.order if mode.fim else None, generation_speed,
                         os.path.getsize(model.path))
    return 0


def print_recommendation(path: str, fim_order: str | None, generation_speed: float, size: int) -> None:
    """What the catalog says of the loaded model, and which model to use on this hardware, with
    its expected generation speed: a decode reads every weight once, so the speed measured here
    scales with the ratio of the file sizes."""
    entry = entry_for_file(path)
    if entry is not None and (mismatch := fim_mismatch(entry, fim_order)):
        print(f"catalog:        {mismatch}")
    gpu = gpu_memory()

    def expected_speed(candidate) -> float:
        return generation_speed * size / candidate.estimated_bytes()

    best, why = recommend(memory_bytes(), gpu[1] if gpu else None, expected_speed)
    if entry is None or entry.name != best.name:
        weak = " The bundled SmolLM2-135M is a tiny chat model without FIM: it shows the pipeline works, not what " \
               "completion can be." if path == default_model_path() else ""
        expected = expected_speed(best)
        speed = "fast (a suggestion line within half a second)" if expected >= 40 else \
            "usable (a line within a second or two)" if expected >= 12 else "slow on this machine"
        print(f"recommended:    {best.name} ({why}); expected about {expected:.0f} tokens/s here: {speed}. "
              f"`infill-lsp pull {best.name}`, then --model {best.name}.{weak}")


def check_remote(engine: RemoteEngine) -> int:
    """Connect to the inference server, check its vocabulary and measure it from here."""
    engine.ready()
    mode = engine.mode()
    print(f"engine:         {engine.describe()}")
    if engine.problem:
        print(f"infill-lsp check: {engine.problem}", file=sys.stderr)
        return 2
    print(f"vocabulary:     {engine.vocabulary.model.path} (matches the server's tokenizer or the server has none)")
    print(f"FIM:            {mode.name}: {mode.reason}")
    print(f"cache identity: {f'slot {engine.slot}' if engine.slot is not None else 'the slot the server picks'}; "
          f"cache_salt {engine.cache_salt} (OpenAI-compatible servers)")
    print_speed(engine)
    return 0


def print_speed(engine: Engine) -> float:
    """Measure and print the engine's speeds; returns the generation speed (tokens/s)."""
    prompt_speed, generation_speed, keystroke_ms = measure_speed(engine)
    print(f"prompt speed:   {prompt_speed:.0f} tokens/s ({CHECK_PROMPT_TOKENS}-token prompt, cold)")
    print(f"generation:     {generation_speed:.1f} tokens/s")
    print(f"keystroke:      {keystroke_ms:.0f} ms to the first token after appending one token to a cached prompt")
    return generation_speed


def measure_speed(engine: Engine) -> tuple[float, float, float]:
    """Cold prompt tokens/s, generation tokens/s, and first-token latency on a warm cache."""
    sample = "def add(left, right):\n    return left + right\n\n"
    # A first line never sent before: the prompt is cold on a shared server too.
    tokens = engine.encoder.encode(f"# {time.time_ns()}\n" + sample * (CHECK_PROMPT_TOKENS // 8))[:CHECK_PROMPT_TOKENS]
    cold = run_to_end(engine, tokens, GenerationParams(max_tokens=CHECK_GENERATED_TOKENS))[1]
    prompt_speed = cold.evaluated_tokens / (cold.prompt_ms / 1000) if cold.prompt_ms else 0.0
    started = time.perf_counter()
    warm = run_to_end(engine, tokens + tokens[1:2], GenerationParams(max_tokens=1))[1]
    keystroke_ms = warm.first_token_ms or (time.perf_counter() - started) * 1000
    return prompt_speed, cold.tokens_per_second, keystroke_ms
