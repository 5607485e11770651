"""Grammar-constrained decoding on the embedded model: llama-cpp-python's order (the grammar first,
over the whole vocabulary, every step) against aistack's (sample, then check the one token; see
src/aistack/llm/sampling.py), with plain decoding as the floor. Appended to docs/benchmarks.md.

The request is a tool call, as the gateway builds it (tool_choice required, the call grammar with
its budget bounds). The three arms decode the same prompt in alternating rounds, so machine noise
hits all alike; each round uses a new seed, the same for all three arms.

    python benchmarks/grammar_sampling.py [--rounds 8] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time

from llama_cpp import Llama, LlamaGrammar

from aistack.llm.generating import Generation
from aistack.llm.grammars import GrammarBuilder
from aistack.llm.llamacpp import LoadedModel, generate_text, load_model
from aistack.llm.protocol import ChatCompletionRequest
from aistack.settings.model import LlamaCppModel

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import append_report, machine  # noqa: E402

NOTE = {"type": "function", "function": {
    "name": "save_note", "description": "Save a note about a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "note": {"type": "string"}},
                   "required": ["city", "note"]}}}


def decode(model: LoadedModel, tokens: list[int], request: ChatCompletionRequest, stops: list[str],
           gbnf: str | None, max_tokens: int) -> tuple[int, float, float]:
    """(tokens after the first, their seconds, seconds to the first): decoding apart from the prompt."""
    grammar = LlamaGrammar.from_string(gbnf, verbose=False) if gbnf else None
    stats = Generation(prompt_tokens=len(tokens))
    model.llama.reset()  # every arm evaluates the whole prompt, as a fresh request would
    started = time.perf_counter()
    first = None
    for _ in generate_text(model, tokens, request, stops, max_tokens, grammar, stats):
        if first is None:
            first, first_count = time.perf_counter(), stats.completion_tokens
    ended = time.perf_counter()
    return stats.completion_tokens - first_count, ended - first, first - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()

    config = LlamaCppModel(n_ctx=1024)
    ours = load_model("smollm2", config)
    theirs = load_model("smollm2", config)
    theirs.llama.__class__ = Llama  # llama-cpp-python's own sampler chain: the grammar at its head
    request = ChatCompletionRequest(
        model="smollm2", tools=[NOTE], tool_choice="required", max_tokens=args.max_tokens, temperature=1.0,
        messages=[{"role": "user", "content": "Save a long note about the weather in Paris."}])
    builder = GrammarBuilder()
    try:
        gbnf = builder.build(str(ours.path), request, lambda text: len(ours.tokenize(text)))
        prompt, stops = ours.chat_prompt(request)
        tokens = ours.tokenize(prompt)
        arms = {"grammar first (llama-cpp-python)": (theirs, gbnf), "grammar after (aistack)": (ours, gbnf),
                "no grammar": (ours, None)}
        spent = {name: [0, 0.0, []] for name in arms}
        for seed in range(args.rounds):
            request.seed = seed
            for name, (model, grammar) in arms.items():
                count, seconds, to_first = decode(model, tokens, request, stops, grammar, args.max_tokens)
                spent[name][0] += count
                spent[name][1] += seconds
                spent[name][2].append(to_first)
    finally:
        builder.close()
    rows = [f"| {name} | {count} | {1000 * seconds / count:.1f} ms | {1000 * statistics.median(firsts):.0f} ms |"
            for name, (count, seconds, firsts) in spent.items()]
    report = "\n".join([
        f"\n## Grammar-constrained decoding, {datetime.date.today()}",
        "",
        f"Machine: {machine()}. SmolLM2-135M-Instruct (Q8_0), {len(tokens)}-token tool-call prompt, "
        f"tool_choice required, temperature 1, max_tokens {args.max_tokens}, {args.rounds} alternating rounds "
        "(seeds 0 up), the prompt evaluated afresh each time. Time per token counts the tokens after the "
        "first text, apart from the prompt; time to first text is the median.",
        "",
        "| order | tokens decoded | time per token | time to first text |",
        "|---|---|---|---|",
        *rows,
    ])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
