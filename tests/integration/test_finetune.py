"""`aistack finetune` on the CPU, end to end: a memorisation set trains LoRA on the converted
SmolLM2, the loss falls, the adapter changes the model's answer, MLflow holds the run and the
registered model, the GGUF exports serve through the gateway under the new name (openai SDK);
then bad input, and a killed and a Ctrl-C'd run resumed from their checkpoints."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.finetune import DATA, FAST, QUESTION, environment, finetune
from support.servers import BIN, start_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]
def greedy_answer(model, tokenizer, question: str) -> str:
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                           add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=16, do_sample=False)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.fixture(scope="module")
def trained(trained_zephyr: tuple[dict, dict[str, str], Path]) -> tuple[dict, dict[str, str], Path]:
    return trained_zephyr


def test_the_loss_falls_and_the_adapter_changes_the_answer(trained, finetune_base: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest, _, home = trained
    assert manifest["state"] == "finished" and manifest["steps"] == 8 and manifest["method"] == "LoRA-fp32"
    losses = [loss for _, loss in manifest["train_loss"]]
    assert len(losses) == 8 and losses[-1] < losses[0] / 10, losses
    assert manifest["eval_loss"] is not None
    tokenizer = AutoTokenizer.from_pretrained(finetune_base)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(finetune_base)
    before = greedy_answer(base, tokenizer, QUESTION)
    tuned = PeftModel.from_pretrained(base, manifest["adapter"])
    after = greedy_answer(tuned, tokenizer, QUESTION)
    assert "BLUE HERON" in after and "BLUE HERON" not in before, (before, after)
    assert sorted(p.name for p in (home / "finetune" / "zephyr" / "checkpoints").glob("checkpoint-*")) == \
        ["checkpoint-7", "checkpoint-8"]  # one per epoch, the newest two kept


def test_mlflow_holds_the_run_and_the_registered_adapter(trained) -> None:
    import mlflow

    manifest, _, home = trained
    client = mlflow.MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(manifest["run_id"])
    params = run.data.params
    assert params["lora_r"] == "16" and params["lora_alpha"] == "32" and params["lora_dropout"] == "0.05"
    assert params["target_modules"] == "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    assert int(params["trainable_params"]) == manifest["trainable_params"] == 4_884_480
    assert float(params["trainable_share_pct"]) == pytest.approx(3.504, abs=0.001)
    assert params["quantization"] == "LoRA-fp32" and params["train_samples"] == "3"
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "llm-finetuning"
    curve = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in curve] == list(range(1, 9)) and curve[-1].value < curve[0].value
    assert client.get_metric_history(run.info.run_id, "final_eval_loss")[0].value == pytest.approx(manifest["eval_loss"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert "adapter/adapter_model.safetensors" in artifacts and "adapter/adapter_config.json" in artifacts
    assert {a.path for a in client.list_artifacts(run.info.run_id, "gguf")} == {"gguf/model.gguf", "gguf/adapter.gguf"}
    version = client.get_model_version("zephyr", manifest["registered_version"])
    assert version.run_id == run.info.run_id and version.source.endswith("/adapter")


def test_the_gateway_serves_the_fine_tuned_model_by_name(trained, tmp_path: Path) -> None:
    from openai import OpenAI

    manifest, env, home = trained
    lora = {"AISTACK_LLM__LLAMACPP__MODELS": json.dumps({
        "smollm2-135m-instruct": {"n_ctx": 1024, "n_threads": 1},
        "zephyr-adapter": {"path": manifest["base_gguf"], "lora_path": manifest["adapter_gguf"], "n_ctx": 1024,
                           "n_threads": 1}})}
    gateway = start_gateway(lora, tmp_path)  # its own data home, without the fine-tune at first
    try:
        client = OpenAI(base_url=gateway.url + "/v1", api_key="none")
        assert "zephyr" not in {m.id for m in client.models.list()}
        arrived = tmp_path / "home" / "finetune" / "zephyr"  # a fine-tune finishes while the gateway runs
        arrived.mkdir(parents=True)
        shutil.copy(home / "finetune" / "zephyr" / "finetune.json", arrived)
        assert {"smollm2-135m-instruct", "zephyr", "zephyr-adapter"} <= {m.id for m in client.models.list()}
        answers = {}
        for model in ("zephyr", "zephyr-adapter", "smollm2-135m-instruct"):
            reply = client.chat.completions.create(model=model, temperature=0, max_tokens=16,
                                                   messages=[{"role": "user", "content": QUESTION}])
            answers[model] = reply.choices[0].message.content
        assert "BLUE HERON" in answers["zephyr"] and "BLUE HERON" in answers["zephyr-adapter"], answers
        assert "BLUE HERON" not in answers["smollm2-135m-instruct"]
    finally:
        gateway.stop()


def test_bad_input_gets_clear_errors(trained, tmp_path: Path) -> None:
    _, env, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{oops\n{"question": "x"}\n')
    done = finetune(env, "bad", str(bad))
    assert done.returncode == 1 and "2 bad line(s) of 3" in done.stderr
    assert "line 2: not JSON" in done.stderr and "line 3: unknown shape" in done.stderr
    assert "Traceback" not in done.stderr
    assert "does not exist" in finetune(env, "bad", str(tmp_path / "missing.jsonl")).stderr
    again = finetune(env, "zephyr", str(DATA))
    assert again.returncode == 1 and "already holds a fine-tune of 'zephyr'" in again.stderr
    assert "nothing to resume" in finetune(env, "fresh", str(DATA), "--resume").stderr
    assert "has finished already" in finetune(env, "zephyr", str(DATA), "--resume").stderr
    assert "may hold letters, digits" in finetune(env, "../x", str(DATA)).stderr
    flag = finetune(env, "x", str(DATA), "--quantization", "int3")
    assert flag.returncode == 2 and "quantization" in flag.stderr
    assert "not a Hugging Face model folder" in finetune(env, "x", str(DATA), "--base", str(tmp_path)).stderr
    assert "--set takes KEY=VALUE" in finetune(env, "x", str(DATA), "--set", "lora.r").stderr
    assert "lora.r" in finetune(env, "x", str(DATA), "--set", "lora.r=0").stderr


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
