"""The CLI as a user runs it: against a running gateway (--url) and in process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from support.cli import invoke, run
from support.servers import ServerProcess

pytestmark = pytest.mark.integration
def test_models_and_one_prompt_through_the_gateway(embedded_gateway: ServerProcess) -> None:
    listed = invoke("models", "--url", embedded_gateway.url, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [m["id"] for m in json.loads(listed.stdout)] == ["smollm2-135m-instruct"]
    answer = invoke("chat", "Say hi.", "--url", embedded_gateway.url, "--max-tokens", "8", "-t", "0")
    assert answer.returncode == 0, answer.stderr
    direct = httpx.post(embedded_gateway.url + "/v1/chat/completions", timeout=60, json={
        "model": "smollm2-135m-instruct", "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hi."}]}).json()["choices"][0]["message"]["content"]
    assert direct.strip() and answer.stdout.strip() == direct.strip()  # the model's own answer, greedy


def test_interactive_chat_in_process_keeps_history() -> None:
    session = run("chat", "--max-tokens", "6", "-t", "0", stdin="Hello\n/reset\nWhat is 2+2?\n/exit\n")
    assert session.returncode == 0, session.stderr
    assert "chatting with smollm2-135m-instruct" in session.stdout
    assert session.stdout.count("you>") == 4


def test_unreachable_gateway_is_a_message_not_a_traceback() -> None:
    result = invoke("models", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the gateway at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_masks_secrets_and_bad_config_exits_2(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("top-secret")
    shown = invoke("config", "show", "--json", env={"AISTACK_LLM__OPENAI__API_KEY_FILE": str(key),
                                                 "AISTACK_SERVER__API_KEYS": "[k1]",
                                                 "AISTACK_DEPLOY__STORE_URL": "postgresql://ops:hunter2@db/slots"})
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["llm"]["openai"]["api_key"] == "**********" and data["server"]["api_keys"] == ["**********"]
    assert "top-secret" not in shown.stdout and "k1" not in shown.stdout
    assert data["deploy"]["store_url"] == "postgresql://ops:**********@db/slots"  # a password inside a URL too
    for env, field in (({"AISTACK_SERVER__API_KEYS": "[4242424242]"}, "server.api_keys.0"),
                       ({"AISTACK_SERVER__PORT": "postgresql://ops:hunter2@db/x"}, "server.port")):
        refused = invoke("config", "show", env=env)
        assert refused.returncode == 2 and field in refused.stderr, refused.stderr
        assert "4242424242" not in refused.stderr and "hunter2" not in refused.stderr  # a settings error quotes no secret
    assert data["llm"]["llamacpp"]["models"]["smollm2-135m-instruct"]["n_ctx"] == 1024  # test profile
    bad = invoke("config", "show", env={"AISTACK_SERVER__PORT": "http"})
    assert bad.returncode == 2
    assert "server.port: Input should be a valid integer" in bad.stderr
    serve = invoke("serve", env={"AISTACK_LLM__BACKEND": "ollama"})
    assert serve.returncode == 2 and "llm.backend" in serve.stderr and "Traceback" not in serve.stderr


def test_serve_with_a_missing_model_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text(
        "llm:\n  llamacpp:\n    models:\n      smollm2-135m-instruct:\n        path: /nope.gguf\n")
    result = invoke("serve", env={"AISTACK_SETTINGS_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "GGUF file /nope.gguf does not exist" in result.stderr and "Traceback" not in result.stderr
