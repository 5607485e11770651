"""aistack's own QLoRA path on a GPU, for a session that is lent one: the training plan, the 4-bit
load (`load_for_training`), the seed's LoRA (`lora_config`) and the trainer settings (`sft_config`),
against plain LoRA in bf16, on a randomly initialised Llama-shaped model with a tokenizer trained in
the script (nothing can be downloaded there). Prints steps/s, tokens/s and peak GPU memory as JSON;
`--record` appends them to docs/benchmarks.md with the card's name.

On a CPU it runs a tiny model through the same code (plain LoRA: the plan falls back), which checks
the script before device time is spent on it.

    PYTHONPATH=src python benchmarks/qlora_gpu.py [--steps 30] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
WORDS = ("proxmox gpu passthrough iommu vfio qdrant vector search embedding retrieval citation mlflow experiment "
         "lora adapter quantisation prometheus alert grafana dashboard nginx blue green rollback token latency").split()
SHAPES = {  # about 1.1B parameters on a GPU, a few million on a CPU
    "cuda": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                 num_key_value_heads=8),
    "cpu": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
}


def make_model(folder: Path, device: str) -> int:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    random.seed(0)
    texts = [" ".join(random.choice(WORDS) for _ in range(200)) for _ in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<unk>", "<s>", "</s>", "<pad>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    config = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **SHAPES[device])
    model = LlamaForCausalLM(config).to(torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "texts.json").write_text(json.dumps(texts))
    return sum(p.numel() for p in model.parameters())


def run(folder: Path, quantization: str, steps: int, seq: int) -> dict:
    import torch
    from peft import get_peft_model
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from aistack.settings import Settings
    from aistack.training.base import BaseModel
    from aistack.training.data import Tokenised
    from aistack.training.hardware import plan_training
    from aistack.training.lora import (
        as_dataset,
        count_parameters,
        load_for_training,
        load_tokenizer,
        lora_config,
        sft_config,
    )

    settings = Settings(finetune={"quantization": quantization, "max_steps": steps, "logging_steps": 5,
                                  "max_seq_length": seq})
    plan = plan_training(settings.finetune)
    tokenizer = load_tokenizer(folder)
    texts = json.loads((folder / "texts.json").read_text())
    samples = [Tokenised(i, ids[:seq], [1] * min(len(ids), seq))
               for i, ids in enumerate(tokenizer(texts, add_special_tokens=False)["input_ids"])]
    if plan.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model = get_peft_model(load_for_training(BaseModel(folder, folder.name), plan), lora_config(settings))
    trainable, _ = count_parameters(model)
    with tempfile.TemporaryDirectory() as out:
        args = sft_config(settings, plan, Path(out), has_eval=False)
        args.save_strategy = "no"
        trainer = SFTTrainer(model=model, args=args, train_dataset=as_dataset(samples), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    f = settings.finetune
    tokens = steps * f.batch_size * f.gradient_accumulation * sum(len(s.input_ids) for s in samples) / len(samples)
    return {"plan": plan.label, "note": plan.note, "optim": plan.optim, "trainable": trainable, "steps": steps,
            "steps_per_s": round(steps / seconds, 3), "tokens_per_s": round(tokens / seconds),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if plan.device == "cuda" else None,
            "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--record", action="store_true", help="Append the table to docs/benchmarks.md.")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    folder = Path(tempfile.mkdtemp(prefix="aistack-qlora-")) / "llama"
    result = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
              "parameters": make_model(folder, device)}
    for arm, quantization in (("aistack plan", "auto"), ("LoRA, no quantisation", "none")):
        result[arm] = run(folder, quantization, args.steps if device == "cuda" else 2, args.seq)
        print(json.dumps({arm: result[arm]}), flush=True)
    print(json.dumps(result, indent=2))
    if args.record:
        from common import append_report, machine

        rows = [f"| {arm} ({r['plan']}, {r['optim']}) | {r['steps_per_s']} | {r['tokens_per_s']:,} | "
                f"{r['peak_gib']} GiB | {r['loss_first']:.2f} to {r['loss_last']:.2f} |"
                for arm, r in result.items() if isinstance(r, dict)]
        append_report("\n".join([
            f"## qlora_gpu.py, {datetime.date.today().isoformat()}", "",
            f"Card: {result['device']}. Host: {machine()}.", "",
            f"aistack's own training path on a random Llama-shaped model of {result['parameters'] / 1e9:.2f}B parameters, "
            f"the seed's LoRA, batch 4 x 4, sequences of {args.seq} tokens, {args.steps} steps:", "",
            "| run | steps/s | tokens/s | peak GPU memory | loss |", "|---|---|---|---|---|", *rows, ""]))


if __name__ == "__main__":
    main()
