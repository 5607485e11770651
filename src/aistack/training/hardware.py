"""What the machine can train with: QLoRA (CUDA plus bitsandbytes) or plain LoRA, and in which dtype."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from aistack.settings.finetune import FinetuneSettings


@dataclass
class TrainingPlan:
    method: str  # "qlora" or "lora"
    dtype: str  # "bf16" or "fp32"
    optim: str
    device: str
    note: str | None = None  # one line for the user when the plan differs from what was asked

    @property
    def label(self) -> str:
        return "QLoRA-4bit-nf4" if self.method == "qlora" else f"LoRA-{self.dtype}"


def plan_training(settings: FinetuneSettings, *, cuda: bool | None = None, bitsandbytes: bool | None = None,
                  cuda_bf16: bool | None = None) -> TrainingPlan:
    """The seed's QLoRA recipe where it can run; otherwise LoRA, said in one line (never a traceback)."""
    if cuda is None or cuda_bf16 is None:
        import torch

        cuda = torch.cuda.is_available() if cuda is None else cuda
        cuda_bf16 = (cuda and torch.cuda.is_bf16_supported()) if cuda_bf16 is None else cuda_bf16
    if bitsandbytes is None:
        bitsandbytes = importlib.util.find_spec("bitsandbytes") is not None
    device = "cuda" if cuda else "cpu"
    if settings.precision == "auto":
        dtype = "bf16" if cuda_bf16 else "fp32"
    else:
        dtype = settings.precision
    if settings.quantization != "none" and cuda and bitsandbytes:
        return TrainingPlan("qlora", "bf16", "paged_adamw_8bit", device)
    note = None
    if settings.quantization != "none":
        why = "no CUDA device" if not cuda else "bitsandbytes is not installed (pip install 'aistack[qlora]')"
        note = f"QLoRA needs CUDA and bitsandbytes ({why}): training plain LoRA in {dtype} on the {device}"
    return TrainingPlan("lora", dtype, "adamw_torch", device, note)
