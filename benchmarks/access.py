"""What teams and access cost per request, and how fast the ledger answers a month's report.

1. Added latency of authentication, quotas and the usage ledger, side by side in one run, against
   a stub upstream that answers at once, at 1 and 16 clients: no authentication and no ledger;
   a team key (a cached check); the key with team and key quotas (requests and tokens per minute,
   a monthly budget) counted in process, plus the ledger; the same counted in Redis.
2. `aistack usage --by day` for a month over a ledger of 10 million synthetic requests (SQLite,
   and PostgreSQL at 127.0.0.1:5432), read from the hourly rollups.

    python benchmarks/access.py [--requests 2000] [--rows 10000000]   (--rows 0: the first part only)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402
from inference import load, percentile  # noqa: E402
from support.servers import BIN, ServerProcess, free_port  # noqa: E402

ADMIN = "bench-admin"
ROUNDS = 8


def gateway(tmp: Path, name: str, stub: str, env: dict[str, str]) -> ServerProcess:
    port = free_port()
    base = {"AISTACK_PROFILES": "", "AISTACK_HOME": str(tmp / name), "AISTACK_SETTINGS_DIR": str(tmp),
            "AISTACK_SERVER__PORT": str(port), "AISTACK_SERVER__LOG_LEVEL": "warning",
            "AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": stub + "/v1",
            "AISTACK_DEPLOY__ADMIN_KEYS": f"[{ADMIN}]"}
    return ServerProcess([str(BIN / "aistack"), "serve"], port, "/health", {**base, **env}, log=tmp / f"{name}.log")


def team_key(server: ServerProcess, limits: dict[str, float]) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    httpx.post(server.url + "/v1/admin/teams", json={"name": "bench", **limits}, headers=admin).raise_for_status()
    made = httpx.post(server.url + "/v1/admin/keys", json={"team": "bench", "scopes": ["chat"], **limits},
                      headers=admin)
    made.raise_for_status()
    return {"Authorization": f"Bearer {made.json()['secret']}"}


def overhead(requests: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-access-"))
    port = free_port()
    stub = ServerProcess([sys.executable, str(ROOT / "benchmarks" / "stub_upstream.py"), str(port)], port,
                         "/v1/models", log=tmp / "stub.log")
    big = {"requests_per_minute": 1e9, "tokens_per_minute": 1e12, "token_budget": 10**15}
    servers = {
        "no authentication, no ledger": (gateway(tmp, "open", stub.url, {"AISTACK_ACCESS__USAGE_LEDGER": "false"}),
                                         None),
        "team key (cached check)": (gateway(tmp, "key", stub.url, {"AISTACK_ACCESS__USAGE_LEDGER": "false"}), {}),
        "key + team and key quotas in memory + ledger": (gateway(tmp, "memory", stub.url, {}), big),
        "key + quotas in Redis + ledger": (gateway(tmp, "redis", stub.url, {
            "AISTACK_DEPLOY__RATE_LIMIT__BACKEND": "redis",
            "AISTACK_DEPLOY__RATE_LIMIT__KEY_PREFIX": f"bench:{uuid.uuid4().hex}:"}), big),
    }
    arms = {name: (server, team_key(server, limits) if limits is not None else None)
            for name, (server, limits) in servers.items()}
    lines = [f"Added latency of authentication, quotas and the usage ledger: non-streaming chat to a stub upstream "
             f"that answers at once, {requests} requests per cell after 200 warm-up, in {ROUNDS} rounds that take "
             "the arms in turn (each round in another order). p50 and p95 over all of a cell's requests; p50 added: "
             "the median over the rounds of the arm's p50 less the first arm's in the same round; time added: what "
             "each request costs the gateway's one process more (1/throughput less the first arm's), which at 16 "
             "clients, with the process saturated, is what every request waits for 16 times:", "",
             "| clients | arm | p50 | p95 | p50 added | time added per request | requests/s |",
             "|---|---|---|---|---|---|---|"]
    base_name = next(iter(arms))
    try:
        for concurrency in (1, 16):
            found: dict[str, list[float]] = {name: [] for name in arms}
            rounds: dict[str, list[float]] = {name: [] for name in arms}
            elapsed = {name: 0.0 for name in arms}
            for name, (server, headers) in arms.items():
                asyncio.run(load(server.url, concurrency, 200, headers))
            names = list(arms)
            for turn in range(ROUNDS):
                for name in names[turn % len(names):] + names[: turn % len(names)]:
                    server, headers = arms[name]
                    started = time.perf_counter()
                    latencies = asyncio.run(load(server.url, concurrency, requests // ROUNDS, headers))
                    elapsed[name] += time.perf_counter() - started
                    found[name] += latencies
                    rounds[name].append(percentile(latencies, 50))
            base_rate = len(found[base_name]) / elapsed[base_name]
            for name, latencies in found.items():
                added = statistics.median(a - b for a, b in zip(rounds[name], rounds[base_name]))
                rate = len(latencies) / elapsed[name]
                lines.append(f"| {concurrency} | {name} | {percentile(latencies, 50) * 1000:.2f} ms | "
                             f"{percentile(latencies, 95) * 1000:.2f} ms | {added * 1000:+.2f} ms | "
                             f"{(1 / rate - 1 / base_rate) * 1e6:+.0f} us | {rate:.0f} |")
    finally:
        for server, _ in arms.values():
            server.stop()
        stub.stop()
    return lines


def layer_cpu(calls: int = 5000) -> list[str]:
    """The access layer's own work per request on the event loop, in process and without HTTP (the
    best of 7 runs of `calls` each): what the 16-client figures above multiply."""
    from aistack.access.buckets import MemoryBuckets
    from aistack.access.ledger import Ledger
    from aistack.access.quotas import Quotas
    from aistack.access.service import AccessService
    from aistack.access.store import AccessStore
    from aistack.metrics import Metrics
    from aistack.principals import OPERATOR, Limits
    from aistack.settings.deploy import RateLimitSettings

    store = AccessStore(Path(tempfile.mkdtemp(prefix="aistack-bench-cpu-")) / "access.db")
    access = AccessService(store, [], [], cache_seconds=3600)
    big = Limits(1e9, 1e12, 10**15, None)
    access.create_team(OPERATOR, "bench", None, big)
    secret = access.create_key(OPERATOR, team="bench", scopes=["chat"], limits=big).secret
    quotas, ledger = Quotas(MemoryBuckets(), RateLimitSettings()), Ledger(store, metrics=Metrics())
    caller = access.authenticate(secret)
    entry = {"path": "/v1/chat/completions", "principal": caller.name, "team": "bench", "key_id": caller.key_id,
             "model": "stub", "status": 200, "prompt_tokens": 10, "completion_tokens": 4, "latency_ms": 1.0}

    async def best(step) -> float:
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(calls):
                await step()
            runs.append((time.perf_counter() - started) / calls * 1e6)
        return min(runs)

    async def check() -> None:
        access.authenticate(secret, "127.0.0.1", blocking=False)

    async def record() -> None:
        ledger.record(dict(entry))

    steps = {"key check (cached)": check, "quotas: admit (4 buckets, 2 budgets)": lambda: quotas.admit(caller),
             "quotas: charge the answer's tokens": lambda: quotas.charge(caller, 14), "ledger: queue the row": record}
    found = {name: asyncio.run(best(step)) for name, step in steps.items()}
    lines = ["The access layer's own work per request on the event loop, in process, without HTTP (best of 7 runs "
             f"of {calls:,} calls; in-memory quotas: requests and tokens per minute of the key and of its team, and both their monthly budgets):",
             "", "| step | per request |", "|---|---|"]
    lines += [f"| {name} | {us:.1f} us |" for name, us in found.items()]
    lines.append(f"| all | {sum(found.values()):.1f} us |")
    return lines


def fill(store, rows: int, teams: int = 10, keys_per_team: int = 5, models: int = 3) -> float:
    """`rows` synthetic requests over the last 30 days, through the ledger's own write path."""
    from aistack.access.store import UsageEvent

    rng = random.Random(7)
    now = datetime.datetime.now(datetime.timezone.utc)
    started, batch = time.perf_counter(), []
    for i in range(rows):
        at = now - datetime.timedelta(seconds=rng.randrange(30 * 86400))
        team = rng.randrange(teams)
        batch.append(UsageEvent(at.isoformat(timespec="milliseconds"), f"key:{team}{rng.randrange(keys_per_team)}",
                                f"{team:04x}{rng.randrange(keys_per_team):04x}", f"team-{team}",
                                f"model-{rng.randrange(models)}", "/v1/chat/completions", 200,
                                rng.randrange(20, 2000), rng.randrange(1, 500), rng.uniform(5, 900), True, "ok"))
        if len(batch) == 50_000 or i == rows - 1:
            store.record_usage(batch)
            batch = []
    return time.perf_counter() - started


def report_speed(rows: int) -> list[str]:
    from support.postgres import fresh_database

    from aistack.access.service import since_of
    from aistack.access.store import AccessStore

    lines = [f"The usage ledger: `usage --by day` for the last 30 days over {rows:,} synthetic requests "
             "(10 teams x 5 keys x 3 models), read from the hourly rollups (median of 5):", "",
             "| store | write (rows/s) | rollup rows | by day | by team |", "|---|---|---|---|---|"]
    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-ledger-"))
    with fresh_database("bench_ledger") as postgres:
        for name, location in (("SQLite", tmp / "ledger.db"), ("PostgreSQL", postgres)):
            store = AccessStore(location)
            seconds = fill(store, rows)
            with store.sql.transaction(write=False) as db:
                rollups = db.execute("SELECT COUNT(*) FROM usage_hourly").fetchone()[0]
            timings = {}
            for by in ("day", "team"):
                runs = []
                for _ in range(5):
                    started = time.perf_counter()
                    store.usage(since_of("30d"), by=by)
                    runs.append(time.perf_counter() - started)
                timings[by] = sorted(runs)[2]
            lines.append(f"| {name} | {rows / seconds:,.0f} | {rollups:,} | {timings['day'] * 1000:.1f} ms | "
                         f"{timings['team'] * 1000:.1f} ms |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    lines = overhead(args.requests) + [""] + layer_cpu() + ([""] + report_speed(args.rows) if args.rows else [])
    report = "\n".join([f"## Teams and access ({datetime.date.today()}, {machine()})", "", *lines, ""])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
