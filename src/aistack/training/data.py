"""Training data: JSONL in one of three shapes, rendered with the base model's chat template.

Each line is one of:
- `{"messages": [{"role": "user", "content": ...}, ..., {"role": "assistant", "content": ...}]}`
- `{"prompt": ..., "completion": ...}`
- `{"text": ...}`

Every line is checked before training starts; all bad lines are reported with their numbers. The
loss counts the answer only (the last assistant turn, or the completion); plain text trains whole.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aistack.errors import InvalidRequest

ROLES = {"system", "user", "assistant"}
SHAPES = ('{"messages": [...]} ending with an assistant turn, {"prompt": ..., "completion": ...} '
          'or {"text": ...}')
MAX_REPORTED = 20


class DataError(InvalidRequest):
    """A training file that cannot be used; the message lists each bad line."""


@dataclass
class Sample:
    line: int
    messages: list[dict[str, str]] | None = None  # chat and prompt/completion lines
    text: str | None = None  # plain text lines


@dataclass
class Tokenised:
    line: int
    input_ids: list[int]
    completion_mask: list[int]  # 1 where the loss counts


@dataclass
class Prepared:
    train: list[Tokenised]
    eval: list[Tokenised]
    truncated: list[int] = field(default_factory=list)  # line numbers
    dropped: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(len(s.input_ids) for s in self.train)


def _message_problem(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return '"messages" must be a non-empty list'
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"message {i} needs a role of {', '.join(sorted(ROLES))}"
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            return f"message {i} needs non-empty string content"
    if messages[-1]["role"] != "assistant":
        return "the last message must be the assistant's answer"
    return None


def parse_line(number: int, raw: str) -> Sample:
    """One JSONL line as a Sample; ValueError says what is wrong with it."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected an object: {SHAPES}")
    if "messages" in record:
        problem = _message_problem(record["messages"])
        if problem:
            raise ValueError(problem)
        return Sample(number, messages=[{"role": m["role"], "content": m["content"]} for m in record["messages"]])
    if "prompt" in record or "completion" in record:
        prompt, completion = record.get("prompt"), record.get("completion")
        if not (isinstance(prompt, str) and prompt.strip() and isinstance(completion, str) and completion.strip()):
            raise ValueError('"prompt" and "completion" must both be non-empty strings')
        return Sample(number, messages=[{"role": "user", "content": prompt},
                                        {"role": "assistant", "content": completion}])
    if "text" in record:
        if not isinstance(record["text"], str) or not record["text"].strip():
            raise ValueError('"text" must be a non-empty string')
        return Sample(number, text=record["text"])
    raise ValueError(f"unknown shape (keys: {', '.join(sorted(record)) or 'none'}); expected {SHAPES}")


def read_samples(path: Path) -> list[Sample]:
    """Every sample of a JSONL file, or a DataError naming each bad line."""
    if not path.is_file():
        raise DataError(f"training data {path} does not exist", param="data")
    samples, problems = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start})", param="data") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            samples.append(parse_line(number, raw))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        shown = problems[:MAX_REPORTED]
        more = f"\n... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise DataError(f"{path}: {len(problems)} bad line(s) of {len(lines)}:\n" + "\n".join(shown) + more,
                        param="data")
    if not samples:
        raise DataError(f"{path} holds no samples; each line is one of {SHAPES}", param="data")
    return samples


def render(sample: Sample, tokenizer: Any) -> tuple[str, str]:
    """(prompt, completion) as text: the chat template for conversations, the text itself otherwise."""
    if sample.text is not None:
        return "", sample.text + (tokenizer.eos_token or "")
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("the base model has no chat template, so only {\"text\": ...} lines can train it",
                        param="data")
    history = sample.messages[:-1]
    prompt = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template(sample.messages, tokenize=False)
    if whole.startswith(prompt):
        return prompt, whole[len(prompt):]
    return prompt, sample.messages[-1]["content"] + (tokenizer.eos_token or "")


def tokenise(sample: Sample, tokenizer: Any, max_length: int, too_long: str) -> tuple[Tokenised | None, bool]:
    """The sample's token ids and loss mask; (None, _) when it is dropped, (_, True) when truncated."""
    prompt, completion = render(sample, tokenizer)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = prompt_ids + completion_ids
    mask = [0] * len(prompt_ids) + [1] * len(completion_ids)
    if len(ids) <= max_length:
        return Tokenised(sample.line, ids, mask), False
    if too_long == "drop" or len(prompt_ids) >= max_length:  # nothing of the answer would be left
        return None, False
    return Tokenised(sample.line, ids[:max_length], mask[:max_length]), True


def prepare(samples: list[Sample], tokenizer: Any, *, max_length: int, too_long: str, eval_share: float,
            seed: int) -> Prepared:
    """Render and tokenise checked samples, then hold out `eval_share` of them for the eval loss."""
    kept, truncated, dropped = [], [], []
    for sample in samples:
        tokenised, was_cut = tokenise(sample, tokenizer, max_length, too_long)
        if tokenised is None:
            dropped.append(sample.line)
            continue
        kept.append(tokenised)
        if was_cut:
            truncated.append(sample.line)
    if not kept:
        raise DataError(f"every sample is longer than max_seq_length={max_length}; "
                        "raise it or shorten the samples", param="data")
    random.Random(seed).shuffle(kept)
    held = int(len(kept) * eval_share)
    if held and len(kept) - held < 1:
        held = len(kept) - 1
    return Prepared(train=kept[held:], eval=kept[:held], truncated=truncated, dropped=dropped)
