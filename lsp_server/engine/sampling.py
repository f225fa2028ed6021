"""Choosing the next token: a llama.cpp sampler chain over one context's last logits."""

from __future__ import annotations

import llama_cpp

from infill_lsp.engine.native import NativeContext


class Sampler:
    """A llama.cpp sampler chain bound to one context."""

    def __init__(self, context: NativeContext, *, temperature: float, top_k: int = 40, top_p: float = 0.95,
                 seed: int = 0) -> None:
        """Greedy at temperature 0, else top-k/top-p/temperature sampling."""
        self._context = context
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(top_k))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(top_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
        self._chain = chain

    def sample(self) -> int:
        """Pick the next token from the logits of the last decoded position."""
        return int(llama_cpp.llama_sampler_sample(self._chain, self._context.handle, -1))

    def close(self) -> None:
        """Free the chain (it owns the samplers added to it)."""
        if self._chain:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
