"""`aistack finetune NAME DATA.jsonl`: LoRA/QLoRA training tracked in MLflow, served by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from aistack.cli.common import console, errors, fail, print_json, settings
from aistack.settings import Settings
from aistack.settings.finetune import FinetuneSettings
from aistack.settings.loader import deep_merge, format_validation_error

# flag -> finetune setting (dotted); every other setting goes through --set
FLAGS = {
    "base": "base_model", "epochs": "epochs", "max_steps": "max_steps", "learning_rate": "learning_rate",
    "batch_size": "batch_size", "grad_accum": "gradient_accumulation", "max_seq_length": "max_seq_length",
    "lora_r": "lora.r", "lora_alpha": "lora.alpha", "quantization": "quantization", "precision": "precision",
    "eval_share": "eval_share", "too_long": "too_long", "threads": "threads", "gguf_type": "gguf_type",
}


def nested(dotted: str, value: Any) -> dict[str, Any]:
    head, _, rest = dotted.partition(".")
    return {head: nested(rest, value) if rest else value}


def with_overrides(config: Settings, flags: dict[str, Any], assignments: list[str]) -> Settings:
    """finetune settings with flags and `--set key=value` (YAML values) applied, validated."""
    tree = config.finetune.model_dump(exclude_unset=False)
    for flag, value in flags.items():
        if value is not None:
            tree = deep_merge(tree, nested(FLAGS.get(flag, flag), value))
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            fail(f"--set takes KEY=VALUE (a finetune setting), not '{assignment}'", code=2)
        tree = deep_merge(tree, nested(key.strip(), yaml.safe_load(raw)))
    try:
        return config.model_copy(update={"finetune": FinetuneSettings.model_validate(tree)})
    except ValidationError as exc:
        fail("finetune settings: " + format_validation_error(exc), code=2)


class Reporter:
    """Prints the plan, a progress bar over optimiser steps, and the loss as it is logged."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: Progress | None = None
        self.task: Any = None
        self.last = ""

    def __call__(self, kind: str, info: dict[str, Any]) -> None:
        if self.quiet:
            return
        if kind == "convert":
            console.print(f"converting {info['gguf'].name} to Hugging Face format (once, cached)...")
        elif kind == "ready":
            self.ready(info)
        elif kind == "trained":
            console.print(f"'{info['manifest'].name}' was trained to step {info['manifest'].steps}; "
                          "its adapter is saved, so only the export runs")
        elif kind == "start":
            self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
                                TimeRemainingColumn(), console=console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("train", total=info["max_steps"], completed=info["step"], loss="")
        elif kind == "step" and self.bar:
            self.bar.update(self.task, completed=info["step"])
        elif kind == "log":
            self.log(info)
        elif kind == "checkpoint":
            console.print(f"checkpoint saved at step {info['step']}")
        elif kind == "export":
            self.stop_bar()
            console.print(f"exporting {info['what']}...")

    def ready(self, info: dict[str, Any]) -> None:
        plan, prepared, manifest = info["plan"], info["prepared"], info["manifest"]
        if plan.note:
            errors.print(f"[yellow]note:[/] {plan.note}", highlight=False)
        console.print(f"base {manifest.base}; {plan.label} on the {plan.device}; "
                      f"trainable parameters: {manifest.trainable_params:,} / {manifest.total_params:,} "
                      f"({100 * manifest.trainable_params / manifest.total_params:.2f}%)")
        console.print(f"{len(prepared.train)} training and {len(prepared.eval)} evaluation samples, "
                      f"{prepared.tokens:,} training tokens; truncated {len(prepared.truncated)}, "
                      f"dropped {len(prepared.dropped)}; MLflow run {manifest.run_id}")

    def log(self, info: dict[str, Any]) -> None:
        parts = [f"{key} {info[key]:.4g}" for key in ("loss", "eval_loss", "learning_rate") if key in info]
        if not parts:
            return
        if self.bar and "loss" in info:
            self.bar.update(self.task, loss=f"loss {info['loss']:.3f}")
        line = f"step {info['step']}: " + ", ".join(parts)
        if line != self.last:  # the final evaluation repeats the last epoch's
            console.print(line)
        self.last = line

    def stop_bar(self) -> None:
        if self.bar:
            self.bar.stop()
            self.bar = None


def finetune(
    name: str = typer.Argument(..., help="Name the model is served and registered under."),
    data: Path = typer.Argument(..., help="JSONL: messages, prompt/completion or text lines."),
    base: str = typer.Option(None, help="Local Hugging Face model folder. Default: the embedded SmolLM2."),
    output: Path = typer.Option(None, help="Output folder. Default: <home>/finetune/NAME."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    epochs: float = typer.Option(None, help="Default 3."),
    max_steps: int = typer.Option(None, help="Stop after this many optimiser steps."),
    learning_rate: float = typer.Option(None, help="Default 2e-4."),
    batch_size: int = typer.Option(None, help="Default 4."),
    grad_accum: int = typer.Option(None, help="Gradient accumulation steps. Default 4."),
    max_seq_length: int = typer.Option(None, help="Default 2048."),
    lora_r: int = typer.Option(None, help="Default 16."),
    lora_alpha: int = typer.Option(None, help="Default 32."),
    quantization: str = typer.Option(None, help="auto | qlora | none."),
    precision: str = typer.Option(None, help="auto | bf16 | fp32."),
    eval_share: float = typer.Option(None, help="Share held out for the eval loss. Default 0.1."),
    too_long: str = typer.Option(None, help="truncate | drop samples over max_seq_length."),
    threads: int = typer.Option(None, help="CPU threads for torch."),
    gguf_type: str = typer.Option(None, help="f32 | f16 | bf16 | q8_0 (default)."),
    gguf: bool = typer.Option(None, "--gguf/--no-gguf", help="Export GGUF files for llama.cpp (default on)."),
    merge: bool = typer.Option(None, "--merge/--no-merge", help="Write the merged model (default on)."),
    assignments: list[str] = typer.Option([], "--set", help="Any finetune setting: KEY=VALUE, e.g. lora.dropout=0.1."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Fine-tune a LoRA adapter (QLoRA on CUDA) on your data; tracked in MLflow, served by name."""
    from aistack.errors import AistackError
    from aistack.registry import MissingDependency

    flags = {k: v for k, v in locals().items() if k in FLAGS}
    flags.update({"gguf": gguf, "merge": merge})
    config = with_overrides(settings(), flags, assignments)
    reporter = Reporter(quiet=as_json)
    try:
        from aistack.training.pipeline import run_finetune, serve_hints
    except ImportError as exc:
        fail(f"fine-tuning needs {exc.name}: pip install 'aistack[finetune]'")
    try:
        manifest = run_finetune(config, name, data, output=output, resume=resume, emit=reporter)
    except (AistackError, MissingDependency) as exc:
        fail(getattr(exc, "message", str(exc)))
    except KeyboardInterrupt:  # before training started: nothing to save yet
        fail("interrupted before the first step; nothing was trained", code=130)
    finally:
        reporter.stop_bar()
    if as_json:
        print_json(manifest.__dict__)
    elif manifest.state == "interrupted":
        console.print(f"stopped at step {manifest.steps}, checkpoint saved. "
                      f"Continue with: aistack finetune {name} {data} --resume")
    else:
        loss = f"; eval loss {manifest.eval_loss:.4f}" if manifest.eval_loss is not None else ""
        console.print(f"[green]done:[/] '{name}' after {manifest.steps} steps{loss}; "
                      f"registered as {name} version {manifest.registered_version or '-'}")
        console.print("Serve it:\n  " + "\n  ".join(serve_hints(manifest)))
    if manifest.state == "interrupted":
        raise typer.Exit(130)
