"""`aistack finetune` interrupted three ways and resumed from its checkpoints: SIGKILL, Ctrl-C,
and an export that fails after training; one MLflow run across the three processes. A file of
its own, so the test runner can start it early beside the vLLM tests (it trains its own run)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.finetune import DATA, FAST, environment
from support.servers import BIN

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_killed_interrupted_and_failed_runs_resume(finetune_base: Path, tmp_path: Path) -> None:
    import mlflow

    home = tmp_path / "home"
    env = environment(home, finetune_base)
    args = [str(BIN / "aistack"), "finetune", "resumed", str(DATA), "--epochs", "4", *FAST,
            "--set", "keep_checkpoints=null"]
    checkpoints = home / "finetune" / "resumed" / "checkpoints"

    killed = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(checkpoints / "checkpoint-1" / "trainer_state.json", killed)
    killed.kill()
    killed.wait()
    state = json.loads((home / "finetune" / "resumed" / "finetune.json").read_text())
    assert state["state"] == "training"

    interrupted = subprocess.Popen(args + ["--resume"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
    wait_for(checkpoints / "checkpoint-2" / "trainer_state.json", interrupted)
    interrupted.send_signal(signal.SIGINT)
    out, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, err
    assert "checkpoint saved" in out and "--resume" in out and "Traceback" not in err
    stopped = json.loads((home / "finetune" / "resumed" / "finetune.json").read_text())
    assert stopped["state"] == "interrupted" and 2 <= stopped["steps"] < 4
    assert (checkpoints / f"checkpoint-{stopped['steps']}" / "adapter_model.safetensors").is_file()

    # the export fails (no usable converter): the trained adapter stays, and a resume finishes the job
    broken = tmp_path / "not-an-sdist.tar.gz"
    broken.write_text("nope")
    failed = subprocess.run(args + ["--resume"], env={**env, "AISTACK_FINETUNE__LLAMA_CPP_SOURCE": str(broken)},
                            capture_output=True, text=True, timeout=600)
    said = " ".join(failed.stderr.split())  # the console wraps long lines where the path length puts them
    assert failed.returncode == 1 and "is not a readable sdist" in said, failed.stderr
    assert "The adapter is saved in" in said and "--resume --no-gguf" in said
    trained = json.loads((home / "finetune" / "resumed" / "finetune.json").read_text())
    assert trained["state"] == "trained" and (Path(trained["adapter"]) / "adapter_model.safetensors").is_file()

    done = subprocess.run(args + ["--resume", "--no-gguf", "--json"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["state"] == "finished" and manifest["steps"] == 4
    assert manifest["run_id"] == state["run_id"]  # one MLflow run across the three processes
    run = mlflow.MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}").get_run(manifest["run_id"])
    assert run.info.status == "FINISHED" and run.data.metrics["train_seconds"] > 0
