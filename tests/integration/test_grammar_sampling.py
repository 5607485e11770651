"""Grammar-constrained sampling on the embedded model, with the grammar checked after the chain
picks (aistack.llm.sampling): what comes out always matches the grammar, a refused token is
resampled rather than kept, and greedy decoding picks what llama-cpp-python's grammar-first order
picks."""

from __future__ import annotations

import re

import llama_cpp
import pytest
from llama_cpp import Llama, LlamaGrammar

from aistack.llm.generating import Generation
from aistack.llm.llamacpp import LoadedModel, generate_text, load_model
from aistack.llm.protocol import CompletionRequest
from aistack.llm.sampling import GrammarAfterSampler
from aistack.settings.model import LlamaCppModel

pytestmark = pytest.mark.integration
# digits in braces: nothing the model would write after this prompt on its own
DIGITS = r'root ::= "{" [0-9] [0-9] [0-9] "}"'
CALL = r'''root ::= "{\"city\":\"" [A-Za-z ]{1,12} "\"}"'''


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    loaded = load_model("smollm2", LlamaCppModel(n_ctx=512))
    yield loaded
    loaded.llama.close()


def decode(model: LoadedModel, prompt: str, gbnf: str, temperature: float, seed: int = 0) -> str:
    request = CompletionRequest(model="smollm2", prompt=prompt, temperature=temperature, seed=seed)
    stats = Generation(prompt_tokens=0)
    grammar = LlamaGrammar.from_string(gbnf, verbose=False)
    return "".join(generate_text(model, model.tokenize(prompt), request, [], 32, grammar, stats))


def test_text_always_matches_and_refused_tokens_are_resampled(model: LoadedModel) -> None:
    for seed in range(5):
        text = decode(model, "Once upon a time, in a land far away,", DIGITS, temperature=1.0, seed=seed)
        assert re.fullmatch(r"\{[0-9]{3}\}", text), text
        sampler = model.llama._sampler
        assert isinstance(sampler, GrammarAfterSampler) and sampler.grammar_refusals > 0


def test_greedy_picks_what_the_grammar_first_order_picks(model: LoadedModel) -> None:
    prompt = "The weather in Paris today, as JSON:"
    ours = decode(model, prompt, CALL, temperature=0.0)
    theirs = Llama(model_path=str(model.path), n_ctx=512, verbose=False)  # llama-cpp-python's own order
    try:
        tokens = theirs.generate(model.tokenize(prompt), temp=0.0,
                                 grammar=LlamaGrammar.from_string(CALL, verbose=False))
        expected = b""
        for _, token in zip(range(32), tokens):  # as many tokens as `decode` allows
            if llama_cpp.llama_vocab_is_eog(theirs._model.vocab, token):  # as generate_text stops
                break
            expected += theirs.detokenize([token])
    finally:
        theirs.close()
    assert re.fullmatch(r'\{"city":"[A-Za-z ]{1,12}"\}', ours) and ours == expected.decode()
