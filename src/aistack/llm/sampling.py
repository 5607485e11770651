"""Grammar-constrained sampling in llama.cpp's server order: sample with the usual chain first, check
only the chosen token against the grammar, and filter the whole vocabulary through the grammar only
when that token is refused.

llama-cpp-python puts the grammar at the head of its sampler chain, so every step runs the grammar
over all 49,152 tokens of the vocabulary before top-k keeps 40 of them. The token chosen either way
is one the grammar allows and the same chain picked: a refused token is resampled from the
grammar-filtered logits, as llama.cpp's `common_sampler_sample` does.
"""

from __future__ import annotations

import ctypes
import math

import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaGrammar
from llama_cpp._internals import LlamaContext, LlamaSampler

TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
assert TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


def chosen(array: llama_cpp.llama_token_data_array) -> int:
    """The token a sampler selected, read through the array (a sampler may point it elsewhere)."""
    return int(array.data[array.selected].id)


class GrammarAfterSampler:
    """Stands where llama-cpp-python's `LlamaSampler` does: `sample(ctx, idx)` returns a token and
    has the chain and the grammar accept it."""

    def __init__(self, chain: LlamaSampler, vocab: llama_cpp.llama_vocab_p, grammar: LlamaGrammar, n_vocab: int):
        self.chain = chain
        self.grammar = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self.n_vocab = n_vocab
        self.ids = np.arange(n_vocab, dtype=np.int32)
        self.candidates = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self.one = np.zeros(1, dtype=TOKEN_DATA)
        self.grammar_refusals = 0  # steps where the chain's first choice broke the grammar

    def sample(self, ctx: LlamaContext, idx: int) -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        token = self._pick(self.chain.sampler, logits)
        if not self._allowed(token):
            self.grammar_refusals += 1
            array = self._load(logits)
            llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(array))
            llama_cpp.llama_sampler_apply(self.chain.sampler, ctypes.byref(array))
            token = chosen(array)
        llama_cpp.llama_sampler_accept(self.grammar, token)
        llama_cpp.llama_sampler_accept(self.chain.sampler, token)
        return token

    def _load(self, logits: np.ndarray) -> llama_cpp.llama_token_data_array:
        c = self.candidates
        c["id"] = self.ids  # a chain sorts the array in place: refill all three fields
        c["logit"] = logits
        c["p"] = 0.0
        return llama_cpp.llama_token_data_array(
            data=c.ctypes.data_as(llama_cpp.llama_token_data_p), size=self.n_vocab, selected=-1, sorted=False)

    def _pick(self, sampler: llama_cpp.llama_sampler_p, logits: np.ndarray) -> int:
        array = self._load(logits)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return chosen(array)

    def _allowed(self, token: int) -> bool:
        self.one[0] = (token, 1.0, 0.0)
        array = llama_cpp.llama_token_data_array(
            data=self.one.ctypes.data_as(llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(array))
        return not math.isinf(float(self.one["logit"][0]))

    def close(self) -> None:
        if getattr(self, "grammar", None):  # also called by __del__ after a failed __init__
            llama_cpp.llama_sampler_free(self.grammar)
        self.grammar = None
        self.chain.close()

    __del__ = close  # llama-cpp-python drops a generation's sampler without closing it


class GrammarAfterLlama(Llama):
    """llama-cpp-python's `Llama` with the grammar checked after sampling (see the module docstring)."""

    def _init_sampler(self, *args, grammar: LlamaGrammar | None = None, **kwargs):  # type: ignore[override]
        chain = super()._init_sampler(*args, grammar=None, **kwargs)
        if grammar is None:
            return chain
        return GrammarAfterSampler(chain, self._model.vocab, grammar, self._n_vocab)
