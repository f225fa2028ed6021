"""Writes tiny random-weight GGUF models with real tokenizers, for FIM tests.

- ``write_starcoder_style``: SmolLM2's byte-level BPE vocabulary and merges plus
  ``<fim_prefix> <fim_middle> <fim_suffix> <fim_pad>`` and the ``tokenizer.ggml.fim_*`` keys.
- ``write_codellama_style``: the 32,000-piece Llama SentencePiece vocabulary (from the npm
  package llama-tokenizer-js) extended to Code Llama's 32,016 with ``▁<PRE> ▁<SUF> ▁<MID>
  ▁<EOT>`` at ids 32007–32010.

llama.cpp loads both, reports their FIM ids and runs them; the weights are noise, so the
tests check mechanics (token layout, streaming, cancellation), never the text's quality.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import gguf
import numpy as np

N_EMBD, N_FF, N_HEAD, N_LAYER = 64, 128, 4, 2
CODELLAMA_FIM = {"▁<PRE>": 32007, "▁<SUF>": 32008, "▁<MID>": 32009, "▁<EOT>": 32010}
STARCODER_FIM = ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>")


def _write_llama_weights(writer: gguf.GGUFWriter, n_vocab: int, seed: int) -> None:
    rng = np.random.default_rng(seed)

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    writer.add_context_length(4096)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(1e6)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tensor("token_embd.weight", n_vocab, N_EMBD)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    tensor("output.weight", n_vocab, N_EMBD)
    for block in range(N_LAYER):
        prefix = f"blk.{block}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(prefix + name + ".weight", N_EMBD, N_EMBD)
        tensor(prefix + "ffn_gate.weight", N_FF, N_EMBD)
        tensor(prefix + "ffn_up.weight", N_FF, N_EMBD)
        tensor(prefix + "ffn_down.weight", N_EMBD, N_FF)


def _finish(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_starcoder_style(source_gguf: Path, path: Path, *, seed: int = 1) -> dict[str, int]:
    """Copy SmolLM2's BPE tokenizer, add StarCoder FIM tokens; return their ids."""
    reader = gguf.GGUFReader(str(source_gguf))
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    types = list(reader.fields["tokenizer.ggml.token_type"].contents())
    merges = list(reader.fields["tokenizer.ggml.merges"].contents())
    ids = {}
    for name in STARCODER_FIM:
        ids[name] = len(tokens)
        tokens.append(name)
        types.append(gguf.TokenType.CONTROL)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-starcoder-style")
    _write_llama_weights(writer, len(tokens), seed)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_uint32("tokenizer.ggml.fim_pre_token_id", ids["<fim_prefix>"])
    writer.add_uint32("tokenizer.ggml.fim_suf_token_id", ids["<fim_suffix>"])
    writer.add_uint32("tokenizer.ggml.fim_mid_token_id", ids["<fim_middle>"])
    writer.add_uint32("tokenizer.ggml.fim_pad_token_id", ids["<fim_pad>"])
    # StarCoder2-style repository tokens, already in SmolLM2's vocabulary.
    writer.add_uint32("tokenizer.ggml.fim_rep_token_id", tokens.index("<repo_name>"))
    writer.add_uint32("tokenizer.ggml.fim_sep_token_id", tokens.index("<file_sep>"))
    _finish(writer)
    return ids


def llama_vocab_from_js(js_file: Path) -> list[str]:
    """The 32,000 Llama pieces embedded (base64, newline-separated) in llama-tokenizer.js."""
    source = js_file.read_text(encoding="utf-8")
    encoded = re.search(r'llama_vocab_base64\s*=\s*"([^"]+)"', source).group(1)
    vocab = base64.b64decode(encoded).decode("utf-8").split("\n")
    if len(vocab) != 32000:
        raise ValueError(f"expected 32000 Llama pieces in {js_file}, found {len(vocab)}")
    return vocab


def write_codellama_style(js_file: Path, path: Path, *, name: str = "tiny-codellama-style", seed: int = 2) -> None:
    """A Code Llama-layout model: Llama SentencePiece vocab + ``▁<PRE>``… at 32007–32010."""
    pieces = llama_vocab_from_js(js_file)
    types, scores = [], []
    for index, piece in enumerate(pieces):
        if index == 0:
            types.append(gguf.TokenType.UNKNOWN)
        elif index in (1, 2):
            types.append(gguf.TokenType.CONTROL)
        elif re.fullmatch(r"<0x[0-9A-F]{2}>", piece):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
        # SentencePiece BPE assigns ids in merge order, so -id ranks merges like the real scores;
        # Llama's runs of spaces were added by hand with a score of -1e9, so they merge last.
        if index < 259:
            scores.append(0.0)
        elif set(piece) == {"▁"}:
            scores.append(-1e9)
        else:
            scores.append(-float(index))
    by_id = {value: key for key, value in CODELLAMA_FIM.items()}
    for index in range(32000, 32016):
        pieces.append(by_id.get(index, f"<unused{index - 32000}>"))
        types.append(gguf.TokenType.CONTROL)
        scores.append(0.0)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    _write_llama_weights(writer, len(pieces), seed)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_bool("tokenizer.ggml.add_space_prefix", True)
    writer.add_eot_token_id(CODELLAMA_FIM["▁<EOT>"])
    writer.add_uint32("tokenizer.ggml.fim_pre_token_id", CODELLAMA_FIM["▁<PRE>"])
    writer.add_uint32("tokenizer.ggml.fim_suf_token_id", CODELLAMA_FIM["▁<SUF>"])
    writer.add_uint32("tokenizer.ggml.fim_mid_token_id", CODELLAMA_FIM["▁<MID>"])
    _finish(writer)
