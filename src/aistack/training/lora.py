"""The seed's `run_qlora_finetune`, as a resumable job: peft LoRA (4-bit QLoRA on CUDA) trained with
trl's SFTTrainer, checkpointed each epoch, tracked in MLflow.

Fixes to the seed: transformers 5 dropped `warmup_ratio` (a float `warmup_steps` below 1 is the
ratio now), trl takes `max_length` and `processing_class`, and the trainable-parameter count is
logged as a number and a share rather than printed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aistack.errors import InvalidRequest
from aistack.settings import Settings
from aistack.training.base import BaseModel, resolve_base
from aistack.training.data import Prepared, prepare, read_samples
from aistack.training.hardware import TrainingPlan, plan_training

MANIFEST = "finetune.json"


def output_folder(settings: Settings, name: str) -> Path:
    return settings.home / "finetune" / name


@dataclass
class Manifest:
    """What a fine-tune wrote, in <output>/finetune.json; the gateway serves models from it."""

    name: str
    base: str
    base_folder: str
    base_gguf: str | None
    run_id: str
    method: str
    state: str = "training"  # training | interrupted | trained (adapter saved) | finished
    steps: int = 0
    train_loss: list[list[float]] = field(default_factory=list)  # [step, loss]
    eval_loss: float | None = None
    trainable_params: int = 0
    total_params: int = 0
    adapter: str | None = None
    merged: str | None = None
    gguf: str | None = None
    adapter_gguf: str | None = None
    registered_version: str | None = None

    def save(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        return cls(**json.loads((folder / MANIFEST).read_text()))


def check_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name[0] in "-.":
        raise InvalidRequest(f"model name '{name}' may hold letters, digits, '-', '_' and '.' only", param="name")
    return name


def lora_config(settings: Settings) -> Any:
    from peft import LoraConfig

    lora = settings.finetune.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, bias=lora.bias,
                      task_type="CAUSAL_LM", target_modules=list(lora.target_modules))


def load_for_training(base: BaseModel, plan: TrainingPlan) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if plan.dtype == "bf16" else torch.float32
    if plan.method != "qlora":
        return AutoModelForCausalLM.from_pretrained(base.folder, dtype=dtype)
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True)
    model = AutoModelForCausalLM.from_pretrained(base.folder, quantization_config=quantization,
                                                 device_map="auto", dtype=torch.bfloat16)
    return prepare_model_for_kbit_training(model)


def load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # as the seed
    return tokenizer


def sft_config(settings: Settings, plan: TrainingPlan, checkpoints: Path, has_eval: bool) -> Any:
    from trl import SFTConfig

    f = settings.finetune
    return SFTConfig(
        output_dir=str(checkpoints),
        save_total_limit=f.keep_checkpoints,
        num_train_epochs=f.epochs,
        max_steps=f.max_steps,
        per_device_train_batch_size=f.batch_size,
        per_device_eval_batch_size=f.batch_size,
        gradient_accumulation_steps=f.gradient_accumulation,
        learning_rate=f.learning_rate,
        warmup_steps=f.warmup_ratio,  # transformers 5: a float below 1 is a share of the steps
        lr_scheduler_type=f.lr_scheduler,
        logging_steps=f.logging_steps,
        logging_first_step=True,
        save_strategy="epoch",
        eval_strategy="epoch" if has_eval else "no",
        bf16=plan.dtype == "bf16",
        optim=plan.optim,
        gradient_checkpointing=f.gradient_checkpointing,
        max_grad_norm=f.max_grad_norm,
        max_length=f.max_seq_length,
        seed=f.seed,
        report_to=[],  # aistack logs to MLflow itself, into the run it opened (and reopens on --resume)
        use_cpu=plan.device == "cpu",
        disable_tqdm=True,
        dataset_kwargs={"skip_prepare_dataset": True},  # data.py tokenised, truncated and masked already
        remove_unused_columns=False,
    )


def as_dataset(samples: list) -> Any:
    from datasets import Dataset

    return Dataset.from_list([
        {"input_ids": s.input_ids, "labels": [t if m else -100 for t, m in zip(s.input_ids, s.completion_mask)]}
        for s in samples])


def count_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


@dataclass
class Run:
    """A fine-tune's folder, manifest and MLflow run: all that exporting and finishing need."""

    settings: Settings
    output: Path
    manifest: Manifest
    tracking: Any


@dataclass
class Job(Run):
    """A fine-tune to train: also prepared data, the model with adapters and the trainer."""

    plan: TrainingPlan
    prepared: Prepared
    trainer: Any
    metrics: Any


def params_for(job_settings: Settings, base: BaseModel, plan: TrainingPlan, prepared: Prepared,
               trainable: int, total: int, data: Path) -> dict[str, Any]:
    f = job_settings.finetune
    return {
        "base_model": base.label, "dataset": str(data), "lora_r": f.lora.r, "lora_alpha": f.lora.alpha,
        "lora_dropout": f.lora.dropout, "target_modules": ",".join(f.lora.target_modules),
        "quantization": plan.label, "optim": plan.optim, "device": plan.device, "epochs": f.epochs,
        "max_steps": f.max_steps, "learning_rate": f.learning_rate, "warmup_ratio": f.warmup_ratio,
        "lr_scheduler": f.lr_scheduler, "batch_size": f.batch_size,
        "gradient_accumulation": f.gradient_accumulation, "max_grad_norm": f.max_grad_norm,
        "gradient_checkpointing": f.gradient_checkpointing, "max_seq_length": f.max_seq_length,
        "trainable_params": trainable, "total_params": total,
        "trainable_share_pct": round(100 * trainable / total, 4),
        "train_samples": len(prepared.train), "eval_samples": len(prepared.eval),
        "train_tokens": prepared.tokens, "truncated_samples": len(prepared.truncated),
        "dropped_samples": len(prepared.dropped),
    }


def earlier_run(output: Path, name: str, resume: bool) -> Manifest | None:
    """The manifest `--resume` continues (None for a new run); a wrong use of --resume is a 400."""
    previous = Manifest.load(output) if resume and (output / MANIFEST).is_file() else None
    if resume and previous is None:
        raise InvalidRequest(f"nothing to resume in {output}: no earlier run of '{name}'", param="resume")
    if previous and previous.state == "finished":
        raise InvalidRequest(f"'{name}' has finished already ({output}); choose another name to train again",
                             param="resume")
    if not resume and (output / MANIFEST).is_file():
        raise InvalidRequest(f"{output} already holds a fine-tune of '{name}': pass --resume to continue "
                             "it, or choose another name", param="name")
    return previous


def reopen_trained(settings: Settings, output: Path, manifest: Manifest) -> Run:
    """A run whose adapter is saved (its export failed): reopened in MLflow, with no model loaded."""
    from aistack.tracking.mlflow import Tracking

    tracking = Tracking(settings)
    tracking.client.update_run(manifest.run_id, status="RUNNING")
    return Run(settings, output, manifest, tracking)


def open_job(settings: Settings, name: str, data: Path, previous: Manifest | None, *,
             output: Path, emit: Any = None) -> Job:
    """Everything up to the first step: base model, data, adapters, trainer, MLflow run."""
    samples = read_samples(data)  # bad input fails here, before torch or any model loads
    f = settings.finetune
    base = resolve_base(settings, previous.base_folder if previous else None,
                        on_convert=lambda gguf: emit and emit("convert", {"gguf": gguf}))

    import torch
    from peft import get_peft_model
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from aistack.tracking.mlflow import Tracking
    from aistack.training.callbacks import MlflowMetrics, Progress

    if f.threads:
        torch.set_num_threads(f.threads)
    torch.manual_seed(f.seed)
    tokenizer = load_tokenizer(base.folder)
    prepared = prepare(samples, tokenizer, max_length=f.max_seq_length, too_long=f.too_long,
                       eval_share=f.eval_share, seed=f.seed)
    plan = plan_training(f)
    model = get_peft_model(load_for_training(base, plan), lora_config(settings))
    trainable, total = count_parameters(model)

    tracking = Tracking(settings)
    if previous:
        run_id = previous.run_id
        tracking.client.update_run(run_id, status="RUNNING")
        manifest = previous
    else:
        run = tracking.client.create_run(tracking.experiment_id(f.experiment), run_name=name,
                                         tags={"aistack.finetune": name})
        run_id = run.info.run_id
        for key, value in params_for(settings, base, plan, prepared, trainable, total, data).items():
            tracking.client.log_param(run_id, key, value)
        output.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(name=name, base=base.label, base_folder=str(base.folder),
                            base_gguf=str(base.gguf) if base.gguf else None, run_id=run_id,
                            method=plan.label, trainable_params=trainable, total_params=total)
        manifest.save(output)
    metrics = MlflowMetrics(tracking.client, run_id)
    callbacks = [metrics] + ([Progress(emit)] if emit else [])
    trainer = SFTTrainer(
        model=model, args=sft_config(settings, plan, output / "checkpoints", bool(prepared.eval)),
        train_dataset=as_dataset(prepared.train),
        eval_dataset=as_dataset(prepared.eval) if prepared.eval else None,
        processing_class=tokenizer, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # the CLI shows progress; no raw dicts on stdout
    return Job(settings, output, manifest, tracking, plan, prepared, trainer, metrics)


def train(job: Job, *, resume: bool = False) -> Manifest:
    """Train to the end (or until Ctrl-C, which saves a checkpoint); write the adapter on success."""
    from aistack.training.callbacks import SaveAndStop

    checkpoints = job.output / "checkpoints"
    has_checkpoint = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    stop = SaveAndStop()
    job.trainer.add_callback(stop)
    with stop:
        job.trainer.train(resume_from_checkpoint=bool(resume and has_checkpoint) or None)
    m, client = job.manifest, job.tracking.client
    m.steps = job.trainer.state.global_step
    m.train_loss += [[h["step"], h["loss"]] for h in job.metrics.history if "loss" in h]
    if stop.requested:
        m.state = "interrupted"
        m.save(job.output)
        client.set_terminated(m.run_id, status="KILLED")
        return m
    if job.prepared.eval:
        m.eval_loss = float(job.trainer.evaluate()["eval_loss"])
        client.log_metric(m.run_id, "final_eval_loss", m.eval_loss, step=m.steps)
    adapter = job.output / "adapter"
    job.trainer.save_model(str(adapter))
    m.adapter = str(adapter)
    m.state = "trained"
    m.save(job.output)
    return m


def finish(job: Run, manifest: Manifest, started: float) -> Manifest:
    """Log the adapter (and exports) as artifacts, register the model, close the MLflow run."""
    client, run_id = job.tracking.client, manifest.run_id
    client.log_artifacts(run_id, manifest.adapter, "adapter")
    client.log_dict(run_id, {k: v for k, v in asdict(manifest).items() if k != "train_loss"}, "finetune.json")
    if job.settings.finetune.register_model:
        manifest.registered_version = register(job.tracking, manifest.name, run_id)
    client.log_metric(run_id, "train_seconds", time.monotonic() - started)
    client.set_terminated(run_id, status="FINISHED")
    manifest.state = "finished"
    manifest.save(job.output)
    return manifest


def register(tracking: Any, name: str, run_id: str) -> str:
    """A registry version of `name` whose source is the run's adapter artifact."""
    client, mlflow = tracking.client, tracking.mlflow
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass  # it exists: add a version
    source = f"{client.get_run(run_id).info.artifact_uri}/adapter"
    return client.create_model_version(name, source, run_id=run_id).version
