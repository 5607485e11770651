"""Training data: the three line shapes, every bad line reported by number, the chat template of
the real base model, loss masks, truncation and dropping, and the held-out split."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistack.settings.finetune import FinetuneSettings
from aistack.training.data import DataError, prepare, read_samples
from aistack.training.hardware import plan_training

pytestmark = pytest.mark.unit
DATA = Path(__file__).parents[2] / "data" / "finetune" / "memorise.jsonl"


@pytest.fixture(scope="module")
def tokenizer(finetune_base: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(finetune_base)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_three_shapes_are_read() -> None:
    samples = read_samples(DATA)
    assert [s.line for s in samples] == [1, 2, 3, 4]
    assert samples[1].messages == [{"role": "user", "content": "Which port does the billing service use?"},
                                   {"role": "assistant", "content": "The billing service listens on port 7441."}]
    assert samples[3].text.startswith("Acme runbook")


def test_every_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    good = '{"prompt": "a", "completion": "b"}'
    path = write(tmp_path, "\n".join([
        good,
        "{not json",
        '{"question": "a", "answer": "b"}',
        '{"messages": [{"role": "user", "content": "hi"}]}',
        '{"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]}',
        '{"prompt": "a", "completion": ""}',
        '["a list"]',
        "",
        '{"text": 5}',
        good,
    ]))
    with pytest.raises(DataError) as caught:
        read_samples(path)
    message = caught.value.message
    assert "7 bad line(s) of 10" in message
    for expected in ["line 2: not JSON", "line 3: unknown shape (keys: answer, question)",
                     "line 4: the last message must be the assistant's answer", "line 5: message 0 needs a role",
                     'line 6: "prompt" and "completion" must both be non-empty', "line 7: expected an object",
                     'line 9: "text" must be a non-empty string']:
        assert expected in message
    assert "line 1:" not in message and "line 10:" not in message


def test_missing_empty_and_binary_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_samples(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="holds no samples"):
        read_samples(write(tmp_path, "\n\n"))
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not UTF-8"):
        read_samples(binary)


def test_chat_template_and_loss_mask(tokenizer) -> None:
    prepared = prepare(read_samples(DATA), tokenizer, max_length=2048, too_long="truncate", eval_share=0, seed=1)
    by_line = {s.line: s for s in prepared.train}
    chat = by_line[1]
    answer = tokenizer.decode([t for t, m in zip(chat.input_ids, chat.completion_mask) if m])
    prompt = tokenizer.decode([t for t, m in zip(chat.input_ids, chat.completion_mask) if not m])
    assert answer.startswith("The codename of project Zephyr is BLUE HERON.") and "<|im_end|>" in answer
    assert "<|im_start|>user\nWhat is the codename" in prompt and prompt.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>system\nYou answer questions about Acme" in tokenizer.decode(by_line[3].input_ids)
    text = by_line[4]
    assert all(text.completion_mask) and tokenizer.decode(text.input_ids).startswith("Acme runbook")
    assert prepared.tokens == sum(len(s.input_ids) for s in prepared.train)


def test_too_long_samples_are_truncated_or_dropped(tokenizer) -> None:
    samples = read_samples(DATA)
    cut = prepare(samples, tokenizer, max_length=40, too_long="truncate", eval_share=0, seed=1)
    assert all(len(s.input_ids) <= 40 for s in cut.train) and cut.truncated == [2, 3]
    # line 1 gets SmolLM2's default system prompt: 42 prompt tokens, so nothing of its answer would be left
    assert cut.dropped == [1] and all(any(s.completion_mask) for s in cut.train)
    dropped = prepare(samples, tokenizer, max_length=40, too_long="drop", eval_share=0, seed=1)
    assert not dropped.truncated and set(dropped.dropped) == {1, 2, 3}
    assert [s.line for s in dropped.train] == [4]
    with pytest.raises(DataError, match="every sample is longer than max_seq_length=5"):
        prepare(samples, tokenizer, max_length=5, too_long="drop", eval_share=0, seed=1)


def test_a_share_is_held_out_for_the_eval_loss(tokenizer) -> None:
    samples = read_samples(DATA)
    split = prepare(samples, tokenizer, max_length=2048, too_long="truncate", eval_share=0.25, seed=7)
    assert len(split.train) == 3 and len(split.eval) == 1
    again = prepare(samples, tokenizer, max_length=2048, too_long="truncate", eval_share=0.25, seed=7)
    assert [s.line for s in again.eval] == [s.line for s in split.eval]  # the seed fixes the split
    assert len(prepare(samples, tokenizer, max_length=2048, too_long="truncate", eval_share=0.1, seed=7).eval) == 0


def test_qlora_only_where_it_can_run() -> None:
    seed = FinetuneSettings()
    gpu = plan_training(seed, cuda=True, bitsandbytes=True, cuda_bf16=True)
    assert (gpu.method, gpu.optim, gpu.label, gpu.note) == ("qlora", "paged_adamw_8bit", "QLoRA-4bit-nf4", None)
    cpu = plan_training(seed, cuda=False, bitsandbytes=True, cuda_bf16=False)
    assert (cpu.method, cpu.dtype, cpu.optim) == ("lora", "fp32", "adamw_torch")
    assert cpu.note == "QLoRA needs CUDA and bitsandbytes (no CUDA device): training plain LoRA in fp32 on the cpu"
    no_bnb = plan_training(seed, cuda=True, bitsandbytes=False, cuda_bf16=True)
    assert no_bnb.method == "lora" and no_bnb.dtype == "bf16" and "bitsandbytes is not installed" in no_bnb.note
    plain = plan_training(FinetuneSettings(quantization="none"), cuda=True, bitsandbytes=True, cuda_bf16=True)
    assert plain.method == "lora" and plain.note is None
