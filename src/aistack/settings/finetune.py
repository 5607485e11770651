"""Settings of `aistack finetune`: the seed's LoRA/QLoRA recipe, every value overridable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from aistack.settings.section import Section

SEED_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LoraSettings(Section):
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases train.")
    target_modules: list[str] = Field(
        default_factory=lambda: list(SEED_TARGET_MODULES),
        description="Modules that get adapters (the seed's seven attention and MLP projections).")


class FinetuneSettings(Section):
    base_model: str | None = Field(
        None, description="A local Hugging Face model folder. Empty: the embedded SmolLM2 GGUF, "
                          "converted to Hugging Face format once and cached under <home>/finetune/base.")
    experiment: str = Field("llm-finetuning", description="MLflow experiment training runs go to.")
    register_model: bool = Field(True, description="Register the adapter in the MLflow model registry under the model's name.")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    quantization: Literal["auto", "qlora", "none"] = Field(
        "auto", description="qlora: 4-bit nf4 (CUDA and bitsandbytes); auto: QLoRA when it can run, else plain LoRA.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="Training dtype. auto: bf16 where the hardware has it, else fp32.")
    epochs: float = Field(3, gt=0, description="Passes over the training split.")
    max_steps: int = Field(-1, ge=-1, description="Stop after this many optimiser steps (-1: run the epochs).")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps spent warming up.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name.")
    batch_size: int = Field(4, ge=1, description="Samples per device per step.")
    gradient_accumulation: int = Field(4, ge=1, description="Steps accumulated per optimiser step.")
    max_grad_norm: float = Field(0.3, gt=0, description="Gradient clipping.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations to save memory.")
    max_seq_length: int = Field(2048, ge=16, description="Longest tokenised sample.")
    too_long: Literal["truncate", "drop"] = Field(
        "truncate", description="What happens to a sample longer than max_seq_length.")
    eval_share: float = Field(0.1, ge=0, lt=1, description="Share of samples held out for the evaluation loss.")
    keep_checkpoints: int | None = Field(
        2, ge=1, description="Epoch checkpoints kept (the newest). Empty: keep all.")
    logging_steps: int = Field(10, ge=1, description="Log the loss every this many steps.")
    seed: int = Field(42, description="Seed for the split, the initialisation and the data order.")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch. Empty: torch's default.")
    merge: bool = Field(True, description="Also write the base model with the adapter merged in.")
    gguf: bool = Field(True, description="Also export GGUF files (merged model and adapter) for llama.cpp.")
    gguf_type: Literal["f32", "f16", "bf16", "q8_0"] = Field(
        "q8_0", description="GGUF tensor type of the merged model.")
    llama_cpp_source: Path | None = Field(
        None, description="llama-cpp-python's sdist (.tar.gz) or a llama.cpp checkout, for its GGUF converters. "
                          "Empty: <home>/finetune/llama.cpp, fetched with `pip download` the first time.")
