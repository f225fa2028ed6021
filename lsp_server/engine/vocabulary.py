"""A model's vocabulary as the prompt side sees it: tokenizing user text, the FIM layout its
special tokens allow, and token texts for constrained decoding.

Both engines own one: the in-process engine over its loaded model, the remote engine over a
vocabulary-only load of the same GGUF, so a prompt is the same token list either way.
"""

from __future__ import annotations

import os

from infill_lsp.engine.native import NativeModel
from infill_lsp.fim.formats import CompletionMode, detect_mode
from infill_lsp.fim.healing import PieceTable

_INFILL_MARKER = "☺"


class VocabEncoder:
    """Encodes user text with control tokens disabled, with or without the leading space."""

    def __init__(self, model: NativeModel) -> None:
        self._model = model
        probe = model.tokenize("a")
        self.adds_space_prefix = bool(probe) and model.piece(probe[0]).startswith(b" ")
        self._marker = model.tokenize(_INFILL_MARKER) if self.adds_space_prefix else []

    def encode(self, text: str) -> list[int]:
        """Tokens for text at the start of a sequence."""
        return self._model.tokenize(text) if text else []

    def encode_infilling(self, text: str) -> list[int]:
        """Tokens without SentencePiece's implicit leading space (Code Llama's ``encode_infilling``)."""
        if not text or not self.adds_space_prefix:
            return self.encode(text)
        # Same trick as Meta's reference tokenizer: encode behind a marker, then drop it.
        tokens = self._model.tokenize(_INFILL_MARKER + text)
        return tokens[len(self._marker):]


class Vocabulary:
    """Tokenization and the prompt layout of one model."""

    def __init__(self, model: NativeModel) -> None:
        self.model = model
        self.encoder = VocabEncoder(model)
        self.model_name = model.metadata("general.name") or os.path.basename(model.path)
        self.architecture = model.metadata("general.architecture") or "unknown"
        self._pieces: PieceTable | None = None
        self._modes: dict[tuple[str, str], CompletionMode] = {}
        self._special_text = {
            token: model.token_text(token)
            for token in (model.special.fim_pre, model.special.fim_suf, model.special.fim_mid)
            if token >= 0
        }

    def mode(self, fim: str = "auto", order: str = "auto") -> CompletionMode:
        """The completion mode under the given settings (decided once per setting pair)."""
        key = (fim, order)
        if key not in self._modes:
            self._modes[key] = detect_mode(self.model.special, self._special_text, self.model_name, fim=fim,
                                           order=order)
        return self._modes[key]

    def bos_for_prefix_only(self) -> int | None:
        """BOS to start a prefix-only prompt with, if the vocabulary wants one."""
        special = self.model.special
        return special.bos if special.add_bos and special.bos >= 0 else None

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``, control tokens written out (for debug logs)."""
        return b"".join(self.model.piece(token, special=True) for token in tokens).decode("utf-8", "replace")

    def pieces(self) -> PieceTable:
        """Every token's bytes, for token healing and the decoding it constrains; built once,
        on first use or at load (bytes, not text: a byte-fallback token is part of a character)."""
        if self._pieces is None:
            self._pieces = PieceTable([self.model.piece(token) for token in range(self.model.n_vocab)])
        return self._pieces


class VocabularyFacts:
    """The :class:`~infill_lsp.engine.boundary.Engine` methods that only read the vocabulary,
    for both engines: each sets ``vocabulary``."""

    vocabulary: Vocabulary

    def mode(self, fim: str = "auto", order: str = "auto") -> CompletionMode:
        """See ``Vocabulary.mode``."""
        return self.vocabulary.mode(fim, order)

    def bos_for_prefix_only(self) -> int | None:
        """See ``Vocabulary.bos_for_prefix_only``."""
        return self.vocabulary.bos_for_prefix_only()

    def detokenize(self, tokens: list[int]) -> str:
        """See ``Vocabulary.detokenize``."""
        return self.vocabulary.detokenize(tokens)

    def pieces(self) -> PieceTable:
        """See ``Vocabulary.pieces``."""
        return self.vocabulary.pieces()
