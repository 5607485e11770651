"""`aistack finetune` on the CPU, end to end: a memorisation set trains LoRA on the converted
SmolLM2, the loss falls, the adapter changes the model's answer, MLflow holds the run and the
registered model, the GGUF exports serve through the gateway under the new name (openai SDK);
then bad input. The killed and resumed runs are in test_finetune_resume.py."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest
from support.cli import invoke
from support.finetune import DATA, QUESTION
from support.servers import start_gateway

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
    # in process: each fails before training, on the command's own checks
    finetune = partial(invoke, "finetune", env={k: v for k, v in env.items() if k.startswith("AISTACK_")})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{oops\n{"question": "x"}\n')
    done = finetune("bad", str(bad))
    assert done.returncode == 1 and "2 bad line(s) of 3" in done.stderr
    assert "line 2: not JSON" in done.stderr and "line 3: unknown shape" in done.stderr
    assert "Traceback" not in done.stderr
    assert "does not exist" in finetune("bad", str(tmp_path / "missing.jsonl")).stderr
    again = finetune("zephyr", str(DATA))
    assert again.returncode == 1 and "already holds a fine-tune of 'zephyr'" in again.stderr
    assert "nothing to resume" in finetune("fresh", str(DATA), "--resume").stderr
    assert "has finished already" in finetune("zephyr", str(DATA), "--resume").stderr
    assert "may hold letters, digits" in finetune("../x", str(DATA)).stderr
    flag = finetune("x", str(DATA), "--quantization", "int3")
    assert flag.returncode == 2 and "quantization" in flag.stderr
    assert "not a Hugging Face model folder" in finetune("x", str(DATA), "--base", str(tmp_path)).stderr
    assert "--set takes KEY=VALUE" in finetune("x", str(DATA), "--set", "lora.r").stderr
    assert "lora.r" in finetune("x", str(DATA), "--set", "lora.r=0").stderr
