"""A deterministic engine behind the :class:`~infill_lsp.engine.boundary.Engine` seam, for tests
and for developing an editor client without a model: ``--model fake:[FILES][?OPTIONS]``.

It is a copying model: it continues the text before the cursor with what followed the longest
earlier occurrence of its end, in the prompt itself (the document, its suffix, repository
context) or in ``FILES`` (a file or a folder of files it "memorized"), and writes nothing when
no four characters match. A long match is "sure" (log-probability near 0 per piece), a short one
a guess: the confidence gate sees the difference. Tokens are bytes; FIM sentinels are tokens of
their own. Its KV cache is simulated honestly: two sequences (the keystrokes' and the
background's), each the token list it holds; a prompt reuses the longest common prefix and
evaluates the rest, at a simulated speed. Every prompt is recorded (:attr:`FakeEngine.prompts`).

Options (``&``-separated): ``fim=none|psm|spm`` (default none: prefix-only, as the bundled
model), ``token_ms=N`` (time per generated piece, default 1), ``prefill=N`` (prompt tokens per second, default 50000),
``n_ctx=N`` (default 8192).
"""

from __future__ import annotations

import codecs
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

from infill_lsp.engine.generation import Cancelled, GenerationParams, GenerationStats
from infill_lsp.engine.kv_reuse import common_prefix_length
from infill_lsp.fim.formats import CompletionMode, SpecialTokens, detect_mode
from infill_lsp.fim.healing import PieceTable

PREFIX = "fake:"
BOS, EOS, PRE, SUF, MID, PAD = 1, 2, 3, 4, 5, 6
_FIRST_BYTE = 8
_NAMES = {BOS: "<s>", EOS: "</s>", PRE: "<fim_prefix>", SUF: "<fim_suffix>", MID: "<fim_middle>", PAD: "<fim_pad>"}
SHORTEST_MATCH = 4
"""Characters of the prompt's end that must occur earlier for any suggestion."""
SURE_MATCH = 12
"""From this many matched characters on, a suggestion is sure."""
SURE, GUESS = -0.05, -3.0
"""Log-probability of each piece of a sure suggestion, and of a guess."""
_PIECE = re.compile(r"\s*\S+|\s+")
_MOST_MEMORIZED = 4 << 20


class ByteEncoder:
    """Text to byte tokens (no implicit leading space, so both encodings agree)."""

    def encode(self, text: str) -> list[int]:
        return [byte + _FIRST_BYTE for byte in text.encode("utf-8")]

    encode_infilling = encode


class FakeEngine:
    """See the module docstring."""

    def __init__(self, spec: str = PREFIX) -> None:
        files, _, query = spec[len(PREFIX):].partition("?")
        options = dict(parse_qsl(query))
        self.fim = options.get("fim", "none")
        self.token_s = float(options.get("token_ms", 1)) / 1000
        self.prefill = float(options.get("prefill", 50_000))
        self._n_ctx = int(options.get("n_ctx", 8192))
        self.memorized = _read(Path(files)) if files else ""
        self.encoder = ByteEncoder()
        self.location = "in-process"
        self.problem: str | None = None
        self.model_name = "fake"
        self.sequences: list[list[int]] = [[], []]
        """What the simulated cache holds: the keystrokes' sequence, then the background's."""
        self.prompts: list[list[int]] = []
        """Every prompt generated from, oldest first (the last 64)."""
        self._pieces = PieceTable([b""] * _FIRST_BYTE + [bytes([byte]) for byte in range(256)])

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def mode(self, fim: str = "auto", order: str = "auto") -> CompletionMode:
        has_fim = self.fim != "none"
        special = SpecialTokens(BOS, EOS, -1, PRE if has_fim else -1, SUF if has_fim else -1,
                                MID if has_fim else -1, PAD, -1, -1, False)
        chosen = order if order != "auto" or self.fim != "spm" else "spm"  # PSM is what "auto" takes
        return detect_mode(special, _NAMES, self.model_name, fim=fim, order=chosen)

    def bos_for_prefix_only(self) -> int | None:
        return None

    def pieces(self) -> PieceTable:
        return self._pieces

    def prefill_tokens_per_s(self) -> float:
        return self.prefill

    def describe(self) -> str:
        return f"fake engine (copies; {len(self.memorized)} characters memorized), n_ctx={self.n_ctx}"

    def ready(self) -> None:
        pass

    def close(self) -> None:
        pass

    def detokenize(self, tokens: list[int]) -> str:
        return _text(tokens, names=True)

    def reusable(self, tokens: list[int]) -> int:
        return max(common_prefix_length(held, tokens) for held in self.sequences)

    cached_prefix = reusable

    def evaluate_prompt(self, tokens: list[int], cancel: threading.Event, stats: GenerationStats,
                        chunk_size: int = 128, *, background: bool = False, may_evict: bool = True) -> None:
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context ({self.n_ctx})")
        if not background and common_prefix_length(self.sequences[1], tokens) > common_prefix_length(
                self.sequences[0], tokens):
            self.sequences.reverse()  # the background's sequence (a grown prompt) serves the keystroke
        held = self.sequences[1 if background else 0]
        kept = min(common_prefix_length(held, tokens), len(tokens) - 1)  # the last token gives the logits
        del held[kept:]
        stats.prompt_tokens, stats.cached_tokens = len(tokens), kept
        started = time.perf_counter()
        for start in range(kept, len(tokens), chunk_size):
            if cancel.is_set():
                stats.stop_reason = "cancelled"
                stats.prompt_ms = (time.perf_counter() - started) * 1000
                raise Cancelled(stats)
            chunk = tokens[start:start + chunk_size]
            time.sleep(len(chunk) / self.prefill)
            held.extend(chunk)
            stats.evaluated_tokens += len(chunk)
        stats.prompt_ms = (time.perf_counter() - started) * 1000

    def reset_cache(self) -> None:
        """Empty the simulated cache."""
        self.sequences = [[], []]

    def refresh(self, cancel: threading.Event) -> GenerationStats:
        return GenerationStats(stop_reason="exact")

    def generate(self, tokens: list[int], params: GenerationParams, cancel: threading.Event,
                 stats: GenerationStats) -> Iterator[str]:
        started = time.perf_counter()
        self.prompts = [*self.prompts[-63:], list(tokens)]
        self.evaluate_prompt(tokens, cancel, stats)
        continuation, matched = self._continue(tokens, params.forced_prefix)
        pieces = _PIECE.findall(params.forced_prefix + continuation)
        length = 0
        stats.stop_reason = "end_of_text"
        for index, piece in enumerate(pieces[:params.max_tokens]):
            if cancel.is_set():
                stats.stop_reason = "cancelled"
                break
            time.sleep(self.token_s)
            if not stats.generated_tokens:
                stats.first_token_ms = (time.perf_counter() - started) * 1000
            stats.generated_tokens += 1
            length += len(piece)
            if params.keep_scores:
                stats.scores.append((length, SURE if matched >= SURE_MATCH else GUESS))
            stats.stop_reason = "complete"  # if the reader closes the stream here
            yield piece
            stats.stop_reason = "max_tokens" if index + 1 == params.max_tokens else "end_of_text"
            if params.deadline is not None and piece.endswith("\n") and time.monotonic() > params.deadline:
                stats.stop_reason = "deadline"
                break
        self.sequences[0] = list(tokens)
        stats.total_ms = (time.perf_counter() - started) * 1000

    def _continue(self, tokens: list[int], forced: str) -> tuple[str, int]:
        """What followed the longest earlier occurrence of the end of the text before the cursor
        (with ``forced``), and how many characters matched."""
        before, elsewhere = _split(tokens)
        before += forced
        haystack = self.memorized + "\0" + elsewhere + "\0" + before[:-1]
        low, high = 0, min(len(before), 200)
        while low < high:  # a match of n characters means one of every shorter length too
            middle = (low + high + 1) // 2
            if before[-middle:] in haystack:
                low = middle
            else:
                high = middle - 1
        if low < SHORTEST_MATCH:
            return "", low
        start = haystack.rfind(before[-low:]) + low
        end = haystack.find("\0", start)
        return haystack[start:end if end != -1 else len(haystack)], low


def _text(tokens: list[int], *, names: bool = False) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return "".join(decoder.decode(bytes([token - _FIRST_BYTE])) if token >= _FIRST_BYTE
                   else (_NAMES.get(token, "") if names else "") for token in tokens)


def _split(tokens: list[int]) -> tuple[str, str]:
    """The text right before the cursor, and the rest of the prompt (suffix, context)."""
    if MID in tokens and tokens[-1] == MID and SUF in tokens:  # PSM: <PRE> prefix <SUF> suffix <MID>
        suf = len(tokens) - 1 - tokens[::-1].index(SUF)
        pre = max((i for i in range(suf) if tokens[i] == PRE), default=-1)
        return _text(tokens[pre + 1:suf]), _text(tokens[:pre + 1]) + "\0" + _text(tokens[suf + 1:])
    if MID in tokens:  # SPM: <PRE> <SUF> suffix <MID> prefix
        mid = len(tokens) - 1 - tokens[::-1].index(MID)
        return _text(tokens[mid + 1:]), _text(tokens[:mid])
    return _text(tokens), ""


def _read(path: Path) -> str:
    """The memorized files' text, each ended by NUL (a continuation stops at a file's end)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    texts, size = [], 0
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        size += len(text)
        if size > _MOST_MEMORIZED:
            break
        texts.append(text)
    return "\0".join(texts)
