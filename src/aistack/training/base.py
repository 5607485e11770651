"""The base model to fine-tune: a local Hugging Face folder, or the embedded SmolLM2 GGUF converted
to Hugging Face format once and cached under <home>/finetune/base/<gguf name>."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aistack.errors import InvalidRequest
from aistack.packaged import bundled_llm_gguf
from aistack.settings import Settings

SOURCE_FILE = "aistack-source.json"  # which GGUF a converted folder came from


@dataclass
class BaseModel:
    folder: Path
    label: str  # what MLflow and the user see
    gguf: Path | None = None  # the GGUF it was converted from, for serving an adapter on it


def converted_folder(settings: Settings, gguf: Path) -> Path:
    return settings.home / "finetune" / "base" / gguf.stem


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantise a GGUF into a Hugging Face folder (written beside, then renamed into place)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' own tqdm bar; errors still raise
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers marks a GGUF-loaded model as quantised and then refuses to save it
    model.hf_quantizer = None
    model.config.quantization_config = None
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf)}) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def resolve_base(settings: Settings, base: str | None = None,
                 on_convert: Callable[[Path], None] | None = None) -> BaseModel:
    """The folder to load: `base` (or finetune.base_model) if given, else the converted embedded model."""
    base = base or settings.finetune.base_model
    if base:
        folder = Path(base).expanduser()
        if not (folder / "config.json").is_file():
            raise InvalidRequest(f"base model {folder} is not a Hugging Face model folder (no config.json); "
                                 "models are never downloaded, so give a local folder", param="base_model")
        source = folder / SOURCE_FILE
        gguf = Path(json.loads(source.read_text())["gguf"]) if source.is_file() else None
        return BaseModel(folder, str(folder), gguf)
    gguf = bundled_llm_gguf()
    folder = converted_folder(settings, gguf)
    if not (folder / "config.json").is_file():
        if on_convert:
            on_convert(gguf)
        convert_gguf(gguf, folder)
    return BaseModel(folder, gguf.name, gguf)
