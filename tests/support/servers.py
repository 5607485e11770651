"""Real servers for tests, started on free loopback ports (vLLM's RemoteOpenAIServer pattern):
start, poll a readiness URL, hand out the address, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aistack.processes import stop_group

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server in its own process group, ready once `ready_path` answers 200; a context manager
    (`with start_gateway(...) as gateway:`) that stops the whole group on exit."""

    def __init__(self, args: list[str], port: int, ready_path: str, env: dict[str, str] | None = None,
                 log: Path | None = None, timeout: float = 60.0):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log or Path(f"/tmp/aistack-test-server-{port}.log")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, env={**os.environ, **(env or {})},
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(ready_path, timeout)

    def _wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """The server and every process it started (its own process group)."""
        stop_group(self.proc)
        self._log.close()


def start_gateway(env: dict[str, str], tmp: Path, name: str = "gateway") -> ServerProcess:
    port = free_port()
    base = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp / "home"),
            "AISTACK_SETTINGS_DIR": str(tmp), "AISTACK_SERVER__PORT": str(port)}
    if os.environ.get("SLOW_CALLBACK_SWEEP_MS"):  # scripts/slow-callbacks.py
        base["AISTACK_SERVER__SLOW_CALLBACK_MS"] = os.environ["SLOW_CALLBACK_SWEEP_MS"]
    return ServerProcess([str(BIN / "aistack"), "serve"], port, "/ready", {**base, **env},
                         log=tmp / f"{name}.log")


def start_llama_cpp_server(model_path: str, tmp: Path) -> ServerProcess:
    """llama-cpp-python's own OpenAI-compatible server: a peer nobody here wrote."""
    port = free_port()
    args = [sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "1024", "--n_threads", "1",
            "--model_alias", "smollm2-upstream"]
    return ServerProcess(args, port, "/v1/models", log=tmp / "llama_cpp_server.log")


def start_chroma(tmp: Path) -> ServerProcess:
    """A real Chroma server (`chroma run`) on a free port."""
    port = free_port()
    args = [str(BIN / "chroma"), "run", "--path", str(tmp / "chroma-data"), "--host", "127.0.0.1",
            "--port", str(port)]
    return ServerProcess(args, port, "/api/v2/heartbeat", env={"ANONYMIZED_TELEMETRY": "false"},
                         log=tmp / "chroma.log")


def start_moto(tmp: Path) -> ServerProcess:
    """moto_server: a real S3 API on loopback (MinIO's role in production)."""
    port = free_port()
    return ServerProcess([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, "/moto-api/",
                         log=tmp / "moto.log")


def start_prometheus(config: Path, tmp: Path) -> ServerProcess:
    """Debian's Prometheus on a fresh TSDB; alerts resent every 2 s so a test sees them soon."""
    port = free_port()
    args = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=2s"]
    return ServerProcess(args, port, "/-/ready", log=tmp / "prometheus.log")


def start_prometheus_on_a_down_target(tmp: Path) -> ServerProcess:
    """Prometheus scraping one target that is down (job `vllm`): `up` for it is 0."""
    config = tmp / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\nscrape_configs:\n"
                      "  - job_name: vllm\n    static_configs: [{targets: ['127.0.0.1:9']}]\n")
    return start_prometheus(config, tmp)


def start_alertmanager(config: Path, tmp: Path, port: int) -> ServerProcess:
    """Debian's Alertmanager, alone (no cluster gossip, which would delay notifications)."""
    args = ["prometheus-alertmanager", f"--config.file={config}", f"--storage.path={tmp / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    return ServerProcess(args, port, "/-/ready", log=tmp / "alertmanager.log")


def start_mlflow(backend_uri: str, artifact_root: str, env: dict[str, str], tmp: Path) -> ServerProcess:
    """An MLflow tracking server, as the seed's compose file runs it (one worker, no job runner:
    MLflow 3 otherwise starts 10 processes on a 2-core host)."""
    port = free_port()
    args = [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri, "--default-artifact-root",
            artifact_root, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return ServerProcess(args, port, "/health", env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env},
                         log=tmp / "mlflow.log", timeout=120)
