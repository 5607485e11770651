"""`aistack finetune` end to end: data -> train -> merge -> GGUF -> MLflow -> how to serve it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aistack.errors import BackendUnavailable
from aistack.settings import Settings
from aistack.training.lora import (
    Manifest,
    Run,
    check_name,
    earlier_run,
    finish,
    open_job,
    output_folder,
    reopen_trained,
    train,
)


def export_outputs(settings: Settings, job: Run, manifest: Manifest, emit: Any) -> None:
    """The merged model and the GGUF files, as settings ask; each lands in the manifest."""
    from aistack.training import export

    f = settings.finetune
    adapter, base = Path(manifest.adapter), Path(manifest.base_folder)
    if f.merge or f.gguf:
        emit("export", {"what": "merged model"})
        manifest.merged = str(export.merge(base, adapter, job.output / "merged"))
    if f.gguf:
        emit("export", {"what": f"GGUF ({f.gguf_type})"})
        manifest.gguf = str(export.model_to_gguf(settings, Path(manifest.merged), job.output / "model.gguf",
                                                 f.gguf_type))
        emit("export", {"what": "GGUF LoRA adapter"})
        manifest.adapter_gguf = str(export.adapter_to_gguf(settings, adapter, base, job.output / "adapter.gguf"))
    manifest.save(job.output)


def quiet_libraries() -> None:
    """transformers' progress bars and deprecation notes would bury aistack's own output."""
    import os
    import warnings

    from transformers.utils import logging as hf_logging

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # "Creating initial MLflow database tables..."
    warnings.filterwarnings("ignore", category=FutureWarning)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def run_finetune(settings: Settings, name: str, data: Path, *, output: Path | None = None,
                 resume: bool = False, emit: Any = None) -> Manifest:
    """Train `name` on `data`; an interrupted run returns with state "interrupted" (resume it)."""
    emit = emit or (lambda kind, info: None)
    check_name(name)
    output = output or output_folder(settings, name)
    previous = earlier_run(output, name, resume)
    quiet_libraries()
    started = time.monotonic()
    if previous and previous.state == "trained":  # only the export failed: no model to load, no step to run
        job: Run = reopen_trained(settings, output, previous)
        manifest = previous
        emit("trained", {"manifest": manifest})
    else:
        job = open_job(settings, name, data, previous, output=output, emit=emit)
        emit("ready", {"plan": job.plan, "prepared": job.prepared, "manifest": job.manifest, "output": job.output})
        manifest = train(job, resume=resume)
        if manifest.state == "interrupted":
            return manifest
    try:
        export_outputs(settings, job, manifest, emit)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{exc.message}\nThe adapter is saved in {manifest.adapter}. Run the same command "
                                 "with --resume to retry the export, or with --resume --no-gguf to skip it") from None
    for artifact in ("model.gguf", "adapter.gguf"):
        if (job.output / artifact).is_file():
            job.tracking.client.log_artifact(manifest.run_id, str(job.output / artifact), "gguf")
    return finish(job, manifest, started)


def serve_hints(manifest: Manifest) -> list[str]:
    """How to serve what was written: the gateway picks it up by name; vLLM takes the adapter."""
    hints = []
    if manifest.gguf or manifest.adapter_gguf:
        hints.append(f"aistack serve   # serves '{manifest.name}' from this data home "
                     "(llm.llamacpp.serve_finetuned)")
        hints.append(f"aistack chat -m {manifest.name} \"...\"")
    if manifest.adapter:
        hints.append(f"vllm serve {manifest.base_folder} --enable-lora --lora-modules "
                     f"{manifest.name}={manifest.adapter}   # then llm.backend: openai")
    return hints
