"""`--resume` of a fine-tune whose adapter is saved but whose export failed: only the export and
MLflow's close-out run. No base model is loaded (the base folder here does not exist, which the
training path refuses at once) and no training step runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistack.errors import InvalidRequest
from aistack.settings import Settings
from aistack.tracking.mlflow import Tracking
from aistack.training.lora import Manifest, output_folder
from aistack.training.pipeline import run_finetune


def trained_run(settings: Settings, name: str, base_folder: Path) -> Manifest:
    tracking = Tracking(settings)
    run = tracking.client.create_run(tracking.experiment_id(settings.finetune.experiment), run_name=name)
    tracking.client.set_terminated(run.info.run_id, status="FAILED")  # as the failed export left it
    output = output_folder(settings, name)
    adapter = output / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}\n")
    manifest = Manifest(name=name, base="base", base_folder=str(base_folder), base_gguf=None,
                        run_id=run.info.run_id, method="LoRA-fp32", state="trained", steps=4, adapter=str(adapter))
    manifest.save(output)
    return manifest


def test_a_trained_run_resumes_straight_to_the_export(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.finetune.gguf = False
    settings.finetune.merge = False
    trained = trained_run(settings, "exported", tmp_path / "no-such-base")
    events: list[str] = []
    done = run_finetune(settings, "exported", tmp_path / "unread.jsonl", resume=True,
                        emit=lambda kind, info: events.append(kind))
    assert done.state == "finished" and done.steps == 4 and str(done.registered_version) == "1"
    assert events == ["trained"]
    client = Tracking(settings).client
    run = client.get_run(trained.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["train_seconds"] >= 0
    assert [a.path for a in client.list_artifacts(trained.run_id, "adapter")] == ["adapter/adapter_config.json"]
    assert Manifest.load(output_folder(settings, "exported")).state == "finished"


def test_a_new_run_still_refuses_a_missing_base(tmp_path: Path) -> None:
    """The other half of the check above: the training path does read the base folder."""
    settings = Settings(home=tmp_path / "home")
    settings.finetune.base_model = str(tmp_path / "no-such-base")
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n')
    with pytest.raises(InvalidRequest, match="not a Hugging Face model folder"):
        run_finetune(settings, "fresh", data)
