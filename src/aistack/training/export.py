"""Outputs for serving: the adapter merged into the base, and GGUF files for llama.cpp.

The GGUF conversion is llama.cpp's own (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`, with
the `gguf-py` beside them), taken from the llama-cpp-python sdist of the installed version: it
matches the llama.cpp that will load the files. The sdist is found at `finetune.llama_cpp_source`,
else fetched once with `pip download` into <home>/finetune/llama.cpp.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from aistack.errors import BackendUnavailable
from aistack.settings import Settings

CONVERTERS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py")
PACKAGES = ("gguf-py", "conversion")  # what the converters import, beside them


def merge(base_folder: Path, adapter: Path, out: Path) -> Path:
    """The base with the adapter folded into its weights (fp32, full precision: never from 4-bit)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(adapter if (adapter / "tokenizer_config.json").is_file() else base_folder
                                  ).save_pretrained(out)
    return out


def _extract(sdist: Path, into: Path) -> Path:
    """llama.cpp's converters and gguf-py out of the sdist; returns the folder holding them."""
    partial = into.with_name(into.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        tar = tarfile.open(sdist)
    except (tarfile.TarError, OSError) as exc:
        raise BackendUnavailable(f"finetune.llama_cpp_source {sdist} is not a readable sdist: {exc}") from None
    with tar:
        wanted = []
        for member in tar.getmembers():
            inside = member.name.split("/vendor/llama.cpp/", 1)[1] if "/vendor/llama.cpp/" in member.name else ""
            if inside in CONVERTERS or inside.split("/", 1)[0] in PACKAGES:
                wanted.append(member)
        if not wanted:
            raise BackendUnavailable(f"{sdist} holds no vendor/llama.cpp converters")
        for member in wanted:
            member.name = member.name.split("/vendor/llama.cpp/", 1)[1]
        tar.extractall(partial, members=wanted, filter="data")
    shutil.rmtree(into, ignore_errors=True)
    partial.rename(into)
    return into


def llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailable("GGUF export needs llama-cpp-python: pip install 'aistack[embedded]'") from None


def converter_folder(settings: Settings) -> Path:
    """A folder with llama.cpp's converters, matching the installed llama-cpp-python."""
    source = settings.finetune.llama_cpp_source
    if source and Path(source).is_dir():
        if not (Path(source) / CONVERTERS[0]).is_file():
            raise BackendUnavailable(f"finetune.llama_cpp_source {source} has no {CONVERTERS[0]}")
        return Path(source)
    version = llama_cpp_version()
    folder = settings.home / "finetune" / "llama.cpp" / version
    if (folder / CONVERTERS[0]).is_file():
        return folder
    if source:
        return _extract(Path(source), folder)
    download = folder.parent / "sdist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
         f"llama-cpp-python=={version}", "-d", str(download)], capture_output=True, text=True)
    sdists = sorted(download.glob(f"llama_cpp_python-{version}.tar.gz"))
    if result.returncode or not sdists:
        raise BackendUnavailable(
            f"GGUF export needs llama.cpp's converter from the llama-cpp-python {version} sdist, and pip "
            f"could not fetch it: {result.stderr.strip()[-300:]}. Set finetune.llama_cpp_source to the "
            "sdist (.tar.gz), or pass --no-gguf")
    return _extract(sdists[0], folder)


def _convert(script: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # use the gguf-py beside it
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)
    if result.returncode:
        raise BackendUnavailable(f"{script.name} failed: {result.stderr.strip()[-800:]}")


def model_to_gguf(settings: Settings, merged: Path, out: Path, outtype: str) -> Path:
    _convert(converter_folder(settings) / CONVERTERS[0], [str(merged), "--outfile", str(out), "--outtype", outtype])
    return out


def adapter_to_gguf(settings: Settings, adapter: Path, base_folder: Path, out: Path) -> Path:
    """A llama.cpp LoRA adapter, applied at load time on the base GGUF (`lora_path`)."""
    _convert(converter_folder(settings) / CONVERTERS[1],
             [str(adapter), "--base", str(base_folder), "--outfile", str(out), "--outtype", "f32"])
    return out
