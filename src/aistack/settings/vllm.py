"""vLLM's serving options (the seed's), used by the process runtime, the compose bundle and the tests."""

from __future__ import annotations

from pydantic import Field

from aistack.settings.section import Section


class VllmSettings(Section):
    model: str = Field("meta-llama/Meta-Llama-3.1-8B-Instruct", description="--model: a Hugging Face id or a local folder.")
    served_model_name: str | None = Field(None, description="--served-model-name. Empty: the model as given.")
    tensor_parallel_size: int = Field(1, ge=1, description="--tensor-parallel-size")
    max_model_len: int = Field(8192, ge=256, description="--max-model-len")
    gpu_memory_utilization: float = Field(0.90, gt=0, le=1, description="--gpu-memory-utilization (GPU only)")
    enforce_eager: bool = Field(True, description="--enforce-eager")
    dtype: str = Field("float16", description="--dtype (bfloat16 on a CPU)")
    lora_modules: dict[str, str] = Field(
        default_factory=dict, description="name -> peft adapter folder: --enable-lora --lora-modules name=path ...")
    max_lora_rank: int = Field(16, ge=1, description="--max-lora-rank (the seed's r is 16)")
    extra_args: list[str] = Field(default_factory=list, description="Any other vLLM flags, as given.")
    python: str = Field("python3", description="The interpreter that has vLLM (its own venv): the process runtime runs "
                                               "`<python> -m vllm.entrypoints.openai.api_server`.")
    device: str = Field("cuda", description="cuda or cpu: gpu_memory_utilization is a GPU-only flag.")
