"""vLLM's command line from settings: the seed's options, LoRA adapters, CPU and GPU."""

from __future__ import annotations

import pytest

from aistack.llm.vllm import vllm_args, vllm_command
from aistack.settings.vllm import VllmSettings

pytestmark = pytest.mark.unit


def test_the_seeds_options_on_a_gpu() -> None:
    assert vllm_args(VllmSettings()) == [
        "--model", "meta-llama/Meta-Llama-3.1-8B-Instruct", "--tensor-parallel-size", "1", "--max-model-len", "8192",
        "--dtype", "float16", "--gpu-memory-utilization", "0.9", "--enforce-eager"]


def test_lora_adapters_a_served_name_and_the_cpu() -> None:
    settings = VllmSettings(model="/models/smollm2", served_model_name="smollm2", dtype="bfloat16", device="cpu",
                            enforce_eager=False, lora_modules={"support": "/ft/support/adapter"},
                            extra_args=["--max-num-seqs", "16"], python="/venvs/vllm/bin/python")
    command = vllm_command(settings, "127.0.0.1", 8302)
    assert command[:3] == ["/venvs/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert "--gpu-memory-utilization" not in command and "--enforce-eager" not in command
    lora = command.index("--enable-lora")
    assert command[lora:lora + 5] == ["--enable-lora", "--max-lora-rank", "16", "--lora-modules", "support=/ft/support/adapter"]
    assert command[-6:] == ["--max-num-seqs", "16", "--host", "127.0.0.1", "--port", "8302"]
    assert command[command.index("--served-model-name") + 1] == "smollm2"
