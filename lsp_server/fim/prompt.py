"""Pure prompt assembly: the code around the cursor → the exact token sequence for the model.

Layouts (``enc`` keeps SentencePiece's implicit leading space, ``enc_nospace`` drops it):

- Code Llama PSM: ``[BOS, PRE] enc(prefix) [SUF] enc_nospace(suffix) [MID]``
- Code Llama SPM: ``[BOS, PRE, SUF] enc_nospace(suffix) [MID] enc(prefix)``
- other FIM PSM:  ``[BOS?] [PRE] prefix [SUF] suffix [MID]``
- other FIM SPM:  ``[BOS?] [SUF] suffix [PRE] prefix [MID]`` (llama-server's ``spm_infill``)
- prefix-only:    ``[BOS?] enc(prefix)``; the suffix is only used to stop generation.

The prefix window starts on a line whose number is a multiple of ``LINE_QUANTUM``, so while
the user types, the start of the prompt stays put and the KV cache stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from infill_lsp.context.languages import line_comment
from infill_lsp.context.snapshot import normalize_newlines
from infill_lsp.fim.blocks import LINE_QUANTUM as LINE_QUANTUM
from infill_lsp.fim.blocks import PromptMemo, TextEncoder, head_lines, tail_blocks
from infill_lsp.fim.formats import CompletionMode


@dataclass(frozen=True)
class Prompt:
    """The token sequence sent to the model and the text it stands for."""

    tokens: list[int]
    mode: str
    prefix: str
    """The part of the document prefix that is in the prompt."""
    suffix: str
    """The part of the document suffix that is in the prompt (empty in prefix-only mode)."""
    n_prefix_tokens: int
    n_suffix_tokens: int
    n_context_tokens: int = 0
    """Repository context in the prompt (chunks and their frame)."""
    shortened: bool = False
    """Cut to the prompt time budget: less context or a smaller window than the settings allow."""
    forced: str = ""
    """The end of ``prefix`` that token healing took off the tokens: generation begins with it."""
    forced_tokens: tuple[int, ...] = ()
    """The tokens that spelled ``forced`` (none for whitespace, which the window's text lacks)."""


def trim_prefix(prefix: str, encoder: TextEncoder, budget: int, memo: PromptMemo, *,
                whole_blocks: bool = False) -> tuple[str, list[int]]:
    """Keep the end of ``prefix`` that fits ``budget`` tokens, starting on an aligned line
    (``whole_blocks``: even when the block being typed in alone is over the budget)."""
    blocks = tail_blocks(prefix, encoder, budget, memo.blocks, whole=whole_blocks,
                         starts=memo.block_starts(prefix))
    if blocks is not None:
        return blocks
    # The last lines alone are too long (minified code, a huge line): keep the last tokens.
    return _tail_by_tokens(prefix, encoder.encode_infilling, budget)


def _tail_by_tokens(text: str, encode, budget: int) -> tuple[str, list[int]]:
    # Characters are at least as many as tokens for any real vocabulary, so 8 chars/token
    # bounds the search window; shrink the character window until it fits.
    window = text[-budget * 8:]
    while window:
        tokens = encode(window)
        if len(tokens) <= budget:
            return window, tokens
        window = window[max(1, (len(tokens) - budget) * 2):]
    return "", []


def trim_suffix(suffix: str, encoder: TextEncoder, budget: int, memo: PromptMemo) -> tuple[str, list[int]]:
    """Keep the start of ``suffix`` that fits ``budget`` tokens, cut at a line end."""
    return memo.suffixes.get((suffix, budget), lambda: head_lines(suffix, encoder.encode_infilling, budget))


@dataclass(frozen=True)
class Window:
    """The text around the cursor that fits the local budget, and its tokens."""

    prefix: str
    suffix: str
    prefix_tokens: list[int]
    suffix_tokens: list[int]
    forced: str = ""
    """The end of ``prefix`` left out of ``prefix_tokens`` (token healing): the model writes it."""
    forced_tokens: tuple[int, ...] = ()


def fit_window(prefix: str, suffix: str, mode: CompletionMode, encoder: TextEncoder, *, budget: int,
               memo: PromptMemo | None = None, whole_blocks: bool = False, prefix_slack: int = 0) -> Window:
    """Trim prefix and suffix (LF newlines only) to ``budget`` tokens; the suffix gets at most a
    quarter (FIM only). ``prefix_slack``: tokens the prefix may take beyond the budget.

    ``memo`` keeps token lists between calls (see ``blocks``); without it nothing is kept.
    ``whole_blocks``: the prefix keeps at least the block being typed in, over the budget if
    need be, so that a small window still starts where it started at the previous keystroke.
    """
    memo = memo or PromptMemo()
    if mode.fim is None:
        kept, tokens = trim_prefix(prefix, encoder, max(1, budget - 1) + prefix_slack, memo,  # BOS
                                   whole_blocks=whole_blocks)
        return Window(kept, "", tokens, [])
    available = max(2, budget - 4)  # BOS and three sentinels
    suffix_text, suffix_tokens = trim_suffix(suffix, encoder, available // 4, memo)
    prefix_text, prefix_tokens = trim_prefix(prefix, encoder, available - len(suffix_tokens) + prefix_slack, memo,
                                             whole_blocks=whole_blocks)
    return Window(prefix_text, suffix_text, prefix_tokens, suffix_tokens)


def assemble(window: Window, mode: CompletionMode, *, bos: int | None = None, context: list[int] = ()) -> Prompt:
    """Lay out BOS, repository context and the FIM parts in the model's order.

    ``context`` (already tokenized, stable between keystrokes) always comes right after BOS so
    that the KV cache keeps it while the user types.
    """
    fim = mode.fim
    prefix_tokens, suffix_tokens = window.prefix_tokens, window.suffix_tokens
    if fim is None:
        head = [bos] if bos is not None else []
        return Prompt(head + list(context) + prefix_tokens, mode.name, window.prefix, "", len(prefix_tokens), 0,
                      len(context), forced=window.forced, forced_tokens=window.forced_tokens)
    head = ([fim.bos] if fim.bos is not None else []) + list(context)
    if fim.order == "psm":
        tokens = head + [fim.pre] + prefix_tokens + [fim.suf] + suffix_tokens + [fim.mid]
    elif fim.codellama:
        tokens = head + [fim.pre, fim.suf] + suffix_tokens + [fim.mid] + prefix_tokens
    else:
        tokens = head + [fim.suf] + suffix_tokens + [fim.pre] + prefix_tokens + [fim.mid]
    return Prompt(tokens, mode.name, window.prefix, window.suffix, len(prefix_tokens), len(suffix_tokens),
                  len(context), forced=window.forced, forced_tokens=window.forced_tokens)


def build_prompt(
    prefix: str,
    suffix: str,
    mode: CompletionMode,
    encoder: TextEncoder,
    *,
    budget: int,
    bos: int | None = None,
) -> Prompt:
    """The prompt for the text around the cursor alone, within ``budget`` tokens.

    ``bos`` is used in prefix-only mode (FIM formats carry their own).
    """
    window = fit_window(normalize_newlines(prefix), normalize_newlines(suffix), mode, encoder, budget=budget)
    return assemble(window, mode, bos=bos)


def file_header(path: str) -> str:
    """A path header line in the file's own comment syntax (``# src/app.py``)."""
    return f"{line_comment(path)} {path}\n"


def render_snippet(path: str, text: str, mode: CompletionMode, encoder: TextEncoder) -> list[int]:
    """One repository chunk: ``<file_sep>path`` for models with repository tokens, else a header comment."""
    body = text if text.endswith("\n") else text + "\n"
    if mode.fim is not None and mode.fim.sep is not None:
        return [mode.fim.sep] + encoder.encode_infilling(f"{path}\n{body}")
    return encoder.encode_infilling(file_header(path) + body + "\n")


def render_context_frame(repo: str, current_path: str, mode: CompletionMode, encoder: TextEncoder) -> tuple[list[int],
                                                                                                            list[int]]:
    """Tokens before the chunks (``<repo_name>repo``) and after them (the current file's header)."""
    fim = mode.fim
    opening = [fim.rep] + encoder.encode_infilling(f"{repo}\n") if fim is not None and fim.rep is not None else []
    if fim is not None and fim.sep is not None:
        return opening, [fim.sep] + encoder.encode_infilling(f"{current_path}\n")
    return opening, encoder.encode_infilling(file_header(current_path))
