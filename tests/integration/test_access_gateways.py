"""Keys and quotas across two gateway processes sharing one PostgreSQL access store and one Redis:
keys made with the CLI through one gateway's admin API, used on both, rotated, revoked (refused by
both within a second) and expired; 16 streaming clients whose SDK usage the ledger matches
exactly; a spent budget raced on both gateways; and the production profile refusing to start with
no key anywhere."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from support.cli import invoke
from support.postgres import fresh_database
from support.servers import ServerProcess, start_gateway

pytestmark = pytest.mark.integration
CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    with fresh_database("access") as store:
        env = {"AISTACK_LLM__BACKEND": "fake", "AISTACK_LLM__FAKE__REPLY": "one two three four five",
               "AISTACK_LLM__FAKE__DELAY": "0.01", "AISTACK_LLM__FAKE__MAX_QUEUE": "64",
               "AISTACK_ACCESS__STORE_URL": store, "AISTACK_ACCESS__USAGE_FLUSH_SECONDS": "0.2",
               "AISTACK_DEPLOY__ADMIN_KEYS": '["the-admin-key"]', "AISTACK_DEPLOY__RATE_LIMIT__BACKEND": "redis",
               "AISTACK_DEPLOY__RATE_LIMIT__KEY_PREFIX": f"aistack-test:{uuid.uuid4().hex}:"}
        first = start_gateway(env, tmp_path_factory.mktemp("access-1"))
        second = start_gateway(env, tmp_path_factory.mktemp("access-2"))
        try:
            yield first, second, store
        finally:
            first.stop()
            second.stop()


def cli(url: str, *args: str) -> dict:
    done = invoke(*args, "--url", url, "--json", env={"AISTACK_CLIENT__ADMIN_KEY": "the-admin-key"})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def status(server: ServerProcess, key: str) -> int:
    return httpx.post(server.url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"},
                      timeout=10).status_code


def refused_within(servers: tuple[ServerProcess, ...], key: str, seconds: float) -> float:
    """Seconds until every gateway answers 401 for the key. It fails when a request sent `seconds`
    or more after the change is still not refused: the time a busy machine takes to answer one
    request is not the key's to count."""
    started = time.monotonic()
    waiting = set(range(len(servers)))
    while waiting:
        for i in sorted(waiting):
            sent = time.monotonic() - started
            code = status(servers[i], key)
            if code == 401:
                waiting.discard(i)
            assert code == 401 or sent < seconds, f"gateway {i} answered {code} to a request sent {sent:.2f} s after"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_key_lives_and_dies_on_every_gateway(gateways) -> None:
    first, second, _ = gateways
    assert cli(first.url, "teams", "create", "red")["name"] == "red"
    made = cli(first.url, "keys", "create", "--team", "red", "--scope", "chat", "--name", "ci")
    key = made["secret"]
    assert made["key"].startswith("sk-ais-") and key not in made["key"]
    assert status(first, key) == status(second, key) == 200
    listed = cli(second.url, "keys")
    assert [k["key"] for k in listed] == [made["key"]] and "secret" not in listed[0]

    rotated = cli(second.url, "keys", "rotate", made["key"])
    refused_within((first, second), key, 1.0)
    assert status(first, rotated["secret"]) == status(second, rotated["secret"]) == 200

    done = invoke("keys", "revoke", rotated["key"], "--url", first.url,
                  env={"AISTACK_CLIENT__ADMIN_KEY": "the-admin-key"})
    assert done.returncode == 0 and "revoked" in done.stdout
    refused_within((first, second), rotated["secret"], 1.0)
    answer = httpx.post(first.url + "/v1/chat/completions", json=CHAT,
                        headers={"Authorization": f"Bearer {rotated['secret']}"})
    assert answer.json()["error"]["code"] == "invalid_api_key" and "revoked" in answer.json()["error"]["message"]


def test_an_expired_key_is_refused_and_no_key_means_no_entry(gateways) -> None:
    first, second, _ = gateways
    cli(first.url, "teams", "create", "blue")
    short = cli(first.url, "keys", "create", "--team", "blue", "--expires-in-days", "0.00002")  # 1.7 s
    assert status(second, short["secret"]) == 200
    time.sleep(2.0)
    expired = httpx.post(second.url + "/v1/chat/completions", json=CHAT,
                         headers={"Authorization": f"Bearer {short['secret']}"})
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    # keys exist now: no key, a random one and a user key on the admin API are all refused
    assert httpx.post(first.url + "/v1/chat/completions", json=CHAT).status_code == 401
    assert status(first, "sk-random-token") == 401
    user = cli(first.url, "keys", "create", "--team", "blue")
    teams = httpx.get(first.url + "/v1/admin/teams", headers={"Authorization": f"Bearer {user['secret']}"})
    assert teams.status_code == 403 and "admin" in teams.json()["error"]["message"]
    wrong = invoke("teams", "--url", first.url, env={"AISTACK_CLIENT__API_KEY": user["secret"]})
    assert wrong.returncode == 1 and "admin" in wrong.stderr


def test_the_production_profile_refuses_to_start_without_keys(tmp_path: Path) -> None:
    empty = tmp_path / "keys"
    empty.write_text("\n")
    done = invoke("serve", env={"AISTACK_PROFILES": "production", "AISTACK_HOME": str(tmp_path / "home"),
                                "AISTACK_API_KEYS_FILE": str(empty), "VLLM_API_KEY_FILE": ""})
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and "no key exists" in said and "server.auth: none" in said


def stream_usage(server: ServerProcess, key: str, question: str) -> int:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)
    total = 0
    for chunk in client.chat.completions.create(model="fake", stream=True, stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": question}]):
        total = chunk.usage.total_tokens if chunk.usage else total
    return total


def ledger_total(server: ServerProcess, team: str) -> dict:
    rows = httpx.get(server.url + "/v1/usage", params={"team": team, "by": "team"},
                     headers={"Authorization": "Bearer the-admin-key"}, timeout=10).json()["data"]
    return rows[0] if rows else {"requests": 0, "total_tokens": 0}


def test_sixteen_streams_on_two_gateways_and_the_ledger_counts_what_the_sdk_was_told(gateways) -> None:
    first, second, _ = gateways
    cli(first.url, "teams", "create", "load", "--tpm", "100000")
    key = cli(first.url, "keys", "create", "--team", "load")["secret"]
    questions = [("word " * (i % 5 + 1)).strip() for i in range(32)]  # prompts of different lengths
    with ThreadPoolExecutor(16) as pool:
        told = list(pool.map(lambda iq: stream_usage((first, second)[iq[0] % 2], key, iq[1]), enumerate(questions)))
    assert all(told)
    deadline = time.monotonic() + 10
    while ledger_total(second, "load")["requests"] < 32 and time.monotonic() < deadline:
        time.sleep(0.2)  # each gateway writes its rows every 0.2 s
    total = ledger_total(second, "load")
    assert total["requests"] == 32 and total["total_tokens"] == sum(told)
    by_day = invoke("usage", "--team", "load", "--url", first.url, env={"AISTACK_CLIENT__ADMIN_KEY": "the-admin-key"})
    assert by_day.returncode == 0 and str(sum(told)) in by_day.stdout
    priced = invoke("cost", "--by", "team", "--since", "1d", "--url", first.url, "--json",
                    env={"AISTACK_CLIENT__ADMIN_KEY": "the-admin-key"})
    assert priced.returncode == 0, priced.stderr
    load = next(t for t in json.loads(priced.stdout)["teams"] if t["team"] == "load")
    assert load["prompt_tokens"] + load["completion_tokens"] == sum(told) and load["cloud_monthly"] > 0


def test_a_spent_budget_lets_nothing_through_on_either_gateway(gateways) -> None:
    first, second, _ = gateways
    cli(first.url, "teams", "create", "tight", "--budget", "40", "--period", "day")
    key = cli(first.url, "keys", "create", "--team", "tight")["secret"]
    spent = 0
    while status(first if spent % 2 else second, key) == 200:  # each answer: a few prompt tokens and 5 completion
        spent += 1
        assert spent < 20
    with ThreadPoolExecutor(16) as pool:
        raced = list(pool.map(lambda i: httpx.post((first, second)[i % 2].url + "/v1/chat/completions", json=CHAT,
                                                   headers={"Authorization": f"Bearer {key}"}, timeout=30), range(32)))
    assert [r.status_code for r in raced] == [429] * 32
    assert {r.json()["error"]["code"] for r in raced} == {"insufficient_quota"}
    time.sleep(0.5)
    assert ledger_total(first, "tight")["requests"] == spent + 1 + 32  # every refusal is in the ledger too
