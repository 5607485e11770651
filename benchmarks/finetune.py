"""LoRA against full fine-tuning of the same small model on the CPU: training tokens/s and peak memory.

Both arms train the converted SmolLM2-135M with aistack's own SFTTrainer configuration (fp32, the
seed's LoRA settings for the LoRA arm, every weight trainable for the full arm) on the same
batches. Each trial runs in a fresh child process; arms alternate (LoRA, full, LoRA, full...) and
the table reports medians and the ratio.

Speed trials run as is. Memory trials run apart, with MALLOC_MMAP_THRESHOLD_=65536: glibc then
hands large blocks back to the system when torch frees them, so RSS follows live tensors instead of
the allocator's high-water mark (which made both arms look alike). That setting slows training, so
its trials give memory only.

    python benchmarks/finetune.py [--steps 6] [--trials 2] [--seq 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402


def child(arm: str, base: Path, steps: int, seq: int, threads: int) -> dict:
    """One trial, in this process: load, train `steps` optimiser steps, report."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from aistack.settings import Settings
    from aistack.training.data import Tokenised
    from aistack.training.hardware import plan_training
    from aistack.training.lora import (
        as_dataset,
        load_tokenizer,
        lora_config,
        sft_config,
    )

    torch.set_num_threads(threads)
    settings = Settings(finetune={"batch_size": 4, "gradient_accumulation": 1, "max_steps": steps,
                                  "logging_steps": 1000, "keep_checkpoints": 1})
    plan = plan_training(settings.finetune)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if arm == "lora":
        model = get_peft_model(model, lora_config(settings))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    held: list[float] = []

    class HeldMemory(TrainerCallback):  # RSS between steps: weights, gradients, optimiser state
        def on_step_end(self, args, state, control, **kwargs):
            held.append(int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20)
    generator = torch.Generator().manual_seed(0)
    samples = [Tokenised(i, torch.randint(100, 49000, (seq,), generator=generator).tolist(), [1] * seq)
               for i in range(4 * steps)]
    with tempfile.TemporaryDirectory() as out:
        args = sft_config(settings, plan, Path(out), has_eval=False)
        args.save_strategy = "no"
        trainer = SFTTrainer(model=model, args=args, train_dataset=as_dataset(samples),
                             processing_class=load_tokenizer(base), callbacks=[HeldMemory()])
        trainer.remove_callback(PrinterCallback)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return {"arm": arm, "trainable": trainable, "tokens_per_s": 4 * steps * seq / seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "held_rss_mib": held[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("ARM", "BASE"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.steps, args.seq, args.threads)))
        return

    from aistack.packaged import bundled_llm_gguf
    from aistack.training.base import convert_gguf

    base = Path(tempfile.mkdtemp(prefix="aistack-bench-ft-")) / "smollm2"
    convert_gguf(bundled_llm_gguf(), base)
    speed: dict[str, list[dict]] = {"lora": [], "full": []}
    memory: dict[str, list[dict]] = {"lora": [], "full": []}

    def trial(arm: str, steps: int, env: dict[str, str]) -> dict:
        out = subprocess.run([sys.executable, __file__, "--child", arm, str(base), "--steps", str(steps),
                              "--seq", str(args.seq), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True, env={**os.environ, **env})
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{arm} {'memory' if env else 'speed'}: {result}", flush=True)
        return result

    for _ in range(args.trials):
        for arm in ("lora", "full"):
            speed[arm].append(trial(arm, args.steps, {}))
        for arm in ("lora", "full"):
            memory[arm].append(trial(arm, 3, {"MALLOC_MMAP_THRESHOLD_": "65536"}))

    def median(results: dict[str, list[dict]], arm: str, key: str) -> float:
        return statistics.median(r[key] for r in results[arm])

    rows = [f"| {name} | {speed[arm][0]['trainable']:,} | {median(speed, arm, 'tokens_per_s'):.0f} | "
            f"{median(memory, arm, 'peak_rss_mib'):,.0f} MiB | {median(memory, arm, 'held_rss_mib'):,.0f} MiB |"
            for name, arm in (("LoRA (r 16, 7 modules)", "lora"), ("full fine-tuning", "full"))]
    faster = median(speed, "lora", "tokens_per_s") / median(speed, "full", "tokens_per_s")
    peak = median(memory, "lora", "peak_rss_mib") / median(memory, "full", "peak_rss_mib")
    held = median(memory, "lora", "held_rss_mib") / median(memory, "full", "held_rss_mib")
    report = "\n".join([
        f"## finetune.py, {datetime.date.today().isoformat()}", "",
        f"Machine: {machine()}.", "",
        f"SmolLM2-135M (converted from the embedded GGUF), fp32 on the CPU with {args.threads} threads, batch 4 x "
        f"{args.seq} tokens, {args.steps} optimiser steps per trial, AdamW, gradient checkpointing; "
        f"{args.trials} speed and {args.trials} memory trials per arm in fresh processes, alternated; medians:", "",
        "| arm | trainable parameters | training tokens/s | peak RSS | RSS held between steps |",
        "|---|---|---|---|---|", *rows, "",
        f"LoRA against full fine-tuning: {faster:.2f}x the tokens/s, {peak:.2f}x the peak memory, "
        f"{held:.2f}x the memory held between steps.", ""])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
