"""Thin, owned wrapper over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

This module owns the native model, its vocabulary and contexts (samplers: ``sampling``). It
deliberately avoids llama-cpp-python's high-level ``Llama`` class: that class redirects fd 1 and
fd 2 to /dev/null while loading when not verbose (fatal for JSON-RPC on
stdio) and its ``suffix=`` FIM path inserts token id 0 instead of the FIM sentinels.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable

import llama_cpp

from infill_lsp.engine.native_backend import (
    DECODE_ABORTING,
    FLASH_ATTENTION_TYPES,
    SPARE_CELLS_CONTEXT,
    init_backend,
)
from infill_lsp.fim.formats import SpecialTokens

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable or not a GGUF llama.cpp can load."""


class ContextTooLarge(ModelLoadError):
    """The model loaded but its KV cache does not fit in memory."""


class NativeModel:
    """A loaded GGUF model and its vocabulary (tokenizer)."""

    def __init__(self, path: str, *, n_gpu_layers: int = 0, vocab_only: bool = False) -> None:
        """``vocab_only``: load the vocabulary and metadata, no weights (tokenizing for a remote engine)."""
        init_backend()
        if not os.path.isfile(path):
            raise ModelLoadError(f"model file not found: {path}")
        if not os.access(path, os.R_OK):
            raise ModelLoadError(f"model file is not readable: {path}")
        with open(path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ModelLoadError(f"not a GGUF file (bad magic bytes): {path}")
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.vocab_only = vocab_only
        model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not model:
            raise ModelLoadError(f"llama.cpp could not load the model (corrupt or unsupported): {path}")
        self.path = path
        self.n_gpu_layers = n_gpu_layers
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = llama_cpp.llama_model_n_ctx_train(model)
        self.n_layer = llama_cpp.llama_model_n_layer(model)
        self.special = SpecialTokens(
            bos=llama_cpp.llama_vocab_bos(self._vocab),
            eos=llama_cpp.llama_vocab_eos(self._vocab),
            eot=llama_cpp.llama_vocab_eot(self._vocab),
            fim_pre=llama_cpp.llama_vocab_fim_pre(self._vocab),
            fim_suf=llama_cpp.llama_vocab_fim_suf(self._vocab),
            fim_mid=llama_cpp.llama_vocab_fim_mid(self._vocab),
            fim_pad=llama_cpp.llama_vocab_fim_pad(self._vocab),
            fim_rep=llama_cpp.llama_vocab_fim_rep(self._vocab),
            fim_sep=llama_cpp.llama_vocab_fim_sep(self._vocab),
            add_bos=bool(llama_cpp.llama_vocab_get_add_bos(self._vocab)),
        )

    # -- vocabulary -------------------------------------------------------------------------
    def tokenize(self, text: str, *, parse_special: bool = False) -> list[int]:
        """Tokenize without BOS; control tokens are recognised only when ``parse_special``."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, False, parse_special)
        if count < 0:
            capacity = -count
            buffer = (llama_cpp.llama_token * capacity)()
            count = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, False, parse_special)
        if count < 0:
            raise RuntimeError(f"tokenization failed ({count})")
        return list(buffer[:count])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes a token stands for (special tokens render only when ``special``)."""
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            count = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0, special)
            if count >= 0:
                return buffer.raw[:count]
            size = -count

    def token_text(self, token: int) -> str:
        """The vocabulary entry of a token, as stored in the GGUF."""
        return llama_cpp.llama_vocab_get_text(self._vocab, token).decode("utf-8", "replace")

    def is_end_of_generation(self, token: int) -> bool:
        """True for EOS, EOT and the other tokens llama.cpp treats as end of generation."""
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def metadata(self, key: str) -> str | None:
        """One GGUF metadata value as a string, or None when absent."""
        buffer = ctypes.create_string_buffer(4096)
        count = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buffer, len(buffer))
        return buffer.value.decode("utf-8", "replace") if count >= 0 else None

    def description(self) -> str:
        """llama.cpp's one-line model description (architecture, size, quantization)."""
        buffer = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self._model, buffer, len(buffer))
        return buffer.value.decode("utf-8", "replace")

    def size_bytes(self) -> int:
        """Total size of the model's tensors."""
        return int(llama_cpp.llama_model_size(self._model))

    def kv_bytes_per_token(self) -> int:
        """KV-cache memory one cached position takes (16-bit keys and values in every layer)."""
        heads = max(1, llama_cpp.llama_model_n_head(self._model))
        kv_width = llama_cpp.llama_model_n_embd(self._model) // heads * llama_cpp.llama_model_n_head_kv(self._model)
        return self.n_layer * 2 * kv_width * 2

    def new_context(self, *, n_ctx: int, n_threads: int, n_batch: int = 512, rope_freq_scale: float = 1.0,
                    flash_attention: str = "auto", n_sequences: int = 1, spare_cells: int = 0,
                    split: bool = False) -> NativeContext:
        """Create an inference context (its own KV cache) over this model."""
        return NativeContext(self, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, rope_freq_scale=rope_freq_scale,
                             flash_attention=flash_attention, n_sequences=n_sequences, spare_cells=spare_cells,
                             split=split)

    def close(self) -> None:
        """Free the native model."""
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None


class DecodeAborted(RuntimeError):
    """``llama_decode`` was stopped by its abort check; llama.cpp dropped the batch's positions."""


class NoRoom(RuntimeError):
    """The KV cache has no free cells for the batch; llama.cpp left the cache as it was."""


class NativeContext:
    """One llama context and the decode calls that fill it.

    Its KV cache holds ``n_sequences`` sequences, each of up to ``n_ctx`` positions, in one of
    two layouts:
    - ``split``: one stream of ``n_ctx`` cells per sequence. A decode attends over its own
      stream only, so a short prompt's keystroke costs the same beside a long prompt in the
      other sequence as alone;
    - unified (llama.cpp's unified KV cache): one pool of ``n_ctx + spare_cells`` cells that
      the sequences share. Less memory, but a decode attends over every used cell, masking the
      other sequences' ones: on the CPU a one-token decode of a 45-token prompt takes 22 ms
      beside a 3,584-token prompt against 9 ms alone (SmolLM2-135M, 2 cores).
    """

    def __init__(self, model: NativeModel, *, n_ctx: int, n_threads: int, n_batch: int,
                 rope_freq_scale: float = 1.0, flash_attention: str = "auto", n_sequences: int = 1,
                 spare_cells: int = 0, split: bool = False) -> None:
        if split and spare_cells:
            raise ValueError("spare cells belong to the unified layout only")
        params = llama_cpp.llama_context_default_params()
        # llama.cpp pads each stream to 256 cells; padded here, the total divides evenly.
        params.n_ctx = -(-n_ctx // 256) * 256 * n_sequences if split else n_ctx + spare_cells
        # The unified layout has one more sequence id, never a prompt's own: the scratch id that
        # text inserted before cached positions is decoded under (see ``decode_beside``).
        params.n_seq_max = n_sequences if split else n_sequences + 1
        params.kv_unified = not split
        params.flash_attn_type = FLASH_ATTENTION_TYPES[flash_attention]
        if rope_freq_scale != 1.0:
            params.rope_scaling_type = llama_cpp.LLAMA_ROPE_SCALING_TYPE_LINEAR
            params.rope_freq_scale = rope_freq_scale
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        if spare_cells and n_ctx <= model.n_ctx_train:
            SPARE_CELLS_CONTEXT.set()
        try:
            ctx = llama_cpp.llama_init_from_model(model._model, params)
        finally:
            SPARE_CELLS_CONTEXT.clear()
        if not ctx:
            raise ContextTooLarge(f"could not create a context of {n_ctx} tokens (out of memory?)")
        self.model = model
        self.split = split
        self.n_ctx = llama_cpp.llama_n_ctx_seq(ctx) if split else llama_cpp.llama_n_ctx(ctx) - spare_cells
        self.n_cells = llama_cpp.llama_n_ctx(ctx)
        self.n_sequences = n_sequences
        self.inserts = not split
        """Whether tokens can be decoded before a sequence's last cached position (see ``decode_beside``)."""
        self.n_batch = n_batch
        self._ctx = ctx
        self._memory = llama_cpp.llama_get_memory(ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._abort_check: Callable[[], bool] = lambda: False
        # Kept on the instance: llama.cpp holds the pointer while it is set.
        self._abort_callback = llama_cpp.ggml_abort_callback(lambda _data: self._should_abort())

    @property
    def handle(self) -> llama_cpp.llama_context_p:
        """The native context (for samplers bound to it)."""
        return self._ctx

    def _should_abort(self) -> bool:
        if self._abort_check():
            DECODE_ABORTING.set()
            return True
        return False

    def truncate(self, sequence: int, n_keep: int) -> None:
        """Drop every cached position of ``sequence`` from ``n_keep`` on."""
        if not llama_cpp.llama_memory_seq_rm(self._memory, sequence, n_keep, -1):
            llama_cpp.llama_memory_clear(self._memory, True)
            raise RuntimeError("KV cache could not be truncated; cleared it instead")

    def can_shift(self) -> bool:
        """Whether cached positions can be moved (RoPE models can)."""
        return bool(llama_cpp.llama_memory_can_shift(self._memory))

    def move(self, sequence: int, source: int, target: int, length: int) -> None:
        """Drop cached positions ``[target, source)`` and move ``[source, source + length)`` to ``target``.

        Safe only because no cell is shared between sequences outside ``decode_beside`` (which
        shares them with the scratch id for one call and moves nothing meanwhile): a cell has
        one position for all the sequences it belongs to.
        """
        llama_cpp.llama_memory_seq_rm(self._memory, sequence, target, source)
        llama_cpp.llama_memory_seq_add(self._memory, sequence, source, source + length, target - source)

    def shift(self, sequence: int, start: int, end: int, delta: int) -> None:
        """Move cached positions ``[start, end)`` by ``delta`` (either way; the target must be free)."""
        llama_cpp.llama_memory_seq_add(self._memory, sequence, start, end, delta)

    def remove(self, sequence: int, start: int, end: int) -> None:
        """Drop cached positions ``[start, end)``."""
        llama_cpp.llama_memory_seq_rm(self._memory, sequence, start, end)

    def decode_beside(self, sequence: int, tokens: list[int], at: int, *, replace: bool = False,
                      chunk: int | None = None, abort: Callable[[], bool] | None = None) -> None:
        """Decode ``tokens`` at positions ``at…`` for ``sequence``, beside what it holds there.

        llama.cpp decodes a sequence only after its last position, so the tokens are decoded
        under the scratch id, which first takes the sequence's cells before ``at`` (in the
        unified layout a cell may belong to several sequences: no copy, only a tag). They see
        what comes before them and nothing after: the causal mask compares positions. Once all
        are decoded, their cells join the sequence: before the positions it holds from ``at`` on
        (typing before a cached suffix), or in their place (``replace``: an exact evaluation of
        them). Stopped by ``abort`` (:class:`DecodeAborted`) or a failure, the sequence is as it was.
        """
        if not self.inserts:
            raise RuntimeError("decoding beside a sequence needs the unified KV layout")
        scratch, step = self.n_sequences, chunk or self.n_batch
        llama_cpp.llama_memory_seq_rm(self._memory, scratch, -1, -1)
        llama_cpp.llama_memory_seq_cp(self._memory, sequence, scratch, 0, at)
        try:
            for start in range(0, len(tokens), step):
                if abort is not None and abort():
                    raise DecodeAborted("decode aborted")
                self.decode(scratch, tokens[start:start + step], abort)
            if replace:
                llama_cpp.llama_memory_seq_rm(self._memory, sequence, at, -1)
            llama_cpp.llama_memory_seq_cp(self._memory, scratch, sequence, at, at + len(tokens))
        finally:
            llama_cpp.llama_memory_seq_rm(self._memory, scratch, -1, -1)

    def clear(self) -> None:
        """Forget the whole KV cache."""
        llama_cpp.llama_memory_clear(self._memory, True)

    def sequence_bytes(self, sequence: int) -> int:
        """How large a copy of a sequence's cached positions would be."""
        return int(llama_cpp.llama_state_seq_get_size(self._ctx, sequence))

    def save_sequence(self, sequence: int) -> ctypes.Array:
        """A copy of a sequence's cached positions in host memory (llama.cpp's sequence state)."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, sequence)
        state = (ctypes.c_uint8 * size)()
        if llama_cpp.llama_state_seq_get_data(self._ctx, state, size, sequence) != size:
            raise RuntimeError("could not copy the KV cache to host memory")
        return state

    def restore_sequence(self, sequence: int, state: ctypes.Array) -> None:
        """Replace a sequence's cached positions with a copy made by :meth:`save_sequence`."""
        llama_cpp.llama_memory_seq_rm(self._memory, sequence, 0, -1)
        if not llama_cpp.llama_state_seq_set_data(self._ctx, state, len(state), sequence):
            llama_cpp.llama_memory_seq_rm(self._memory, sequence, 0, -1)
            raise NoRoom("could not restore a KV cache from host memory")

    def decode(self, sequence: int, tokens: list[int], abort: Callable[[], bool] | None = None) -> None:
        """Append tokens to ``sequence``; logits are kept for the last one.

        ``abort`` is polled between the graph's operations (llama.cpp's abort callback): when it
        returns True, the decode stops within one operation and raises :class:`DecodeAborted`.
        Polling takes the GIL once per operation, so only background work passes it; without it
        no callback is installed. Raises :class:`NoRoom` when the cells are all taken.
        """
        if not 0 < len(tokens) <= self.n_batch:
            raise ValueError(f"a decode takes 1 to {self.n_batch} tokens, not {len(tokens)}")
        batch, start = self._batch, llama_cpp.llama_memory_seq_pos_max(self._memory, sequence) + 1
        for index, token in enumerate(tokens):
            batch.token[index], batch.pos[index] = token, start + index
            batch.n_seq_id[index], batch.seq_id[index][0], batch.logits[index] = 1, sequence, 0
        batch.logits[len(tokens) - 1] = 1
        batch.n_tokens = len(tokens)
        if abort is None:  # no callback at all: each call would take the GIL in the middle of the compute
            status = llama_cpp.llama_decode(self._ctx, batch)
        else:
            self._abort_check = abort
            llama_cpp.llama_set_abort_callback(self._ctx, self._abort_callback, None)
            try:
                status = llama_cpp.llama_decode(self._ctx, batch)
            finally:
                llama_cpp.llama_set_abort_callback(self._ctx, llama_cpp.ggml_abort_callback(), None)
                DECODE_ABORTING.clear()
        if status == 2:
            raise DecodeAborted("decode aborted")
        if status == 1:
            raise NoRoom(f"no free KV cells for {len(tokens)} tokens")
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")

    def last_logits(self):
        """A copy of the logits of the last decoded position (numpy array of n_vocab floats)."""
        import numpy as np

        pointer = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,)).copy()

    def last_logprob(self, token: int) -> float:
        """The log-probability of ``token`` at the last decoded position (its log-softmax value).
        About 0.1 ms for a 49K vocabulary: read in place, no copy."""
        import numpy as np

        pointer = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))
        peak = float(logits.max())
        return float(logits[token]) - peak - float(np.log(np.exp(logits - peak).sum()))

    def close(self) -> None:
        """Free the native context."""
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
