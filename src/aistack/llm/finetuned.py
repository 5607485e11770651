"""Fine-tuned models the gateway serves by name: read from the manifests `aistack finetune` wrote
under <home>/finetune (no torch here: serving never needs it)."""

from __future__ import annotations

import json
from pathlib import Path

from aistack.settings import Settings
from aistack.settings.model import LlamaCppModel


def finetuned_models(settings: Settings) -> dict[str, LlamaCppModel]:
    """name -> GGUF config: the merged GGUF if exported, else the base GGUF with the adapter GGUF.
    Each inherits n_ctx, n_threads and n_batch from the first configured model."""
    configured = settings.llm.llamacpp.models
    template = next(iter(configured.values()), LlamaCppModel())
    found: dict[str, LlamaCppModel] = {}
    for manifest in sorted((settings.home / "finetune").glob("*/finetune.json")):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        name = data.get("name")
        if data.get("state") != "finished" or not name or name in configured:
            continue
        common = {"chat_template": None, "preload": False, "lora_path": None}
        if data.get("gguf") and Path(data["gguf"]).is_file():
            found[name] = template.model_copy(update={**common, "path": Path(data["gguf"])})
        elif data.get("adapter_gguf") and data.get("base_gguf"):
            found[name] = template.model_copy(update={
                **common, "path": Path(data["base_gguf"]), "lora_path": Path(data["adapter_gguf"])})
    return found


def served_models(settings: Settings) -> dict[str, LlamaCppModel]:
    models = dict(settings.llm.llamacpp.models)
    if settings.llm.llamacpp.serve_finetuned:
        models.update(finetuned_models(settings))
    return models
