"""FIM format detection: which sentinel tokens a model has, which order to use, and why.

The decision is made once per loaded model from the GGUF vocabulary (never from a model-name
table), so any FIM model works: Code Llama (``▁<PRE>``…), StarCoder/Qwen/DeepSeek/Codestral
style (``<fim_prefix>``… or ``<|fim_prefix|>``…), CodeGemma, and models without FIM tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FimSetting = Literal["auto", "on", "off"]
OrderSetting = Literal["auto", "psm", "spm"]

# Meta released Code Llama - Python and Code Llama 34B without infilling training, but their
# vocabularies still carry the FIM tokens; using them produces garbage.
_UNTRAINED_FIM_NAME = re.compile(r"python|34b", re.IGNORECASE)


@dataclass(frozen=True)
class SpecialTokens:
    """Special token ids read from the GGUF vocabulary; -1 where the model has none."""

    bos: int
    eos: int
    eot: int
    fim_pre: int
    fim_suf: int
    fim_mid: int
    fim_pad: int
    fim_rep: int
    fim_sep: int
    add_bos: bool


@dataclass(frozen=True)
class FimFormat:
    """The token layout of one model family's fill-in-the-middle prompt."""

    pre: int
    suf: int
    mid: int
    order: Literal["psm", "spm"]
    codellama: bool
    """Code Llama's reference layout: BOS first, ``SPM = [BOS, PRE, SUF] suf [MID] pre``."""
    bos: int | None
    """BOS to put first, or None when the vocabulary does not want one."""
    stop_tokens: frozenset[int]
    """Tokens that end the middle part besides llama.cpp's end-of-generation set (EOT, pad…)."""
    rep: int | None = None
    """Repository-name token (``<repo_name>``, ``<|repo_name|>``) for repository context, if any."""
    sep: int | None = None
    """File-separator token (``<file_sep>``, ``<|file_sep|>``) for repository context, if any."""


@dataclass(frozen=True)
class CompletionMode:
    """What the engine will do for this model: FIM with a format, or prefix-only, and why."""

    fim: FimFormat | None
    reason: str

    @property
    def name(self) -> str:
        """'fim-psm', 'fim-spm' or 'prefix-only'."""
        return f"fim-{self.fim.order}" if self.fim else "prefix-only"


def detect_mode(
    special: SpecialTokens,
    token_text: dict[int, str],
    model_name: str,
    *,
    fim: FimSetting = "auto",
    order: OrderSetting = "auto",
) -> CompletionMode:
    """Choose FIM or prefix-only for a model, honouring the ``completion.fim`` override."""
    ids = (special.fim_pre, special.fim_suf, special.fim_mid)
    if fim == "off":
        return CompletionMode(None, "completion.fim is 'off'")
    if min(ids) < 0:
        why = "the model's vocabulary has no FIM tokens (fim_pre/fim_suf/fim_mid)"
        return CompletionMode(None, why + (": completion.fim 'on' cannot apply" if fim == "on" else ""))
    pre_text = token_text.get(special.fim_pre, "")
    codellama = pre_text.strip("▁ ") == "<PRE>"
    if fim == "auto" and codellama and _UNTRAINED_FIM_NAME.search(model_name):
        return CompletionMode(
            None,
            f"'{model_name}' carries Code Llama FIM tokens but was not trained to infill "
            "(Python and 34B variants); set completion.fim to 'on' to force FIM",
        )
    chosen = order if order != "auto" else ("spm" if codellama else "psm")
    stops = {t for t in (special.eot, special.fim_pad) if t >= 0}
    bos = special.bos if (special.add_bos or codellama) and special.bos >= 0 else None
    # Repository tokens are only used together: a name without file separators has no layout.
    repo_tokens = special.fim_rep >= 0 and special.fim_sep >= 0
    layout = FimFormat(special.fim_pre, special.fim_suf, special.fim_mid, chosen, codellama, bos, frozenset(stops),
                       special.fim_rep if repo_tokens else None, special.fim_sep if repo_tokens else None)
    names = "/".join(token_text.get(t, "?") for t in ids)
    source = "completion.fim is 'on'" if fim == "on" else "the vocabulary declares FIM tokens"
    order_why = {"auto": " (Code Llama was trained on SPM)" if codellama else " (PSM: the common training order)"}
    return CompletionMode(layout,
                          f"{source} {names}; order {chosen.upper()}{order_why.get(order, ' (completion.fimOrder)')}")
