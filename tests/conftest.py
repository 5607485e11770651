from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import ServerProcess, start_gateway


@pytest.fixture(scope="session")
def embedded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`aistack serve` on the embedded SmolLM2 model, shared by the integration tests."""
    server = start_gateway({}, tmp_path_factory.mktemp("embedded"), "embedded")
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def model_path() -> str:
    from aistack.packaged import bundled_llm_gguf

    return str(bundled_llm_gguf())


@pytest.fixture
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty settings folder, and no AISTACK_* variables from the caller's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("AISTACK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AISTACK_SETTINGS_DIR", str(tmp_path))
    return tmp_path


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's folder, shared by the xdist workers (not the next run's)."""
    import os

    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def conversion_key(gguf: Path) -> str:
    """What a converted folder depends on: the GGUF's bytes, the converting code and the libraries
    that do the work. Any change to one of them converts afresh."""
    import hashlib
    from importlib.metadata import version

    import aistack.training.base

    digest = hashlib.sha256()
    with gguf.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    digest.update(Path(aistack.training.base.__file__).read_bytes())
    for package in ("transformers", "gguf", "tokenizers", "safetensors"):
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def finetune_base() -> Path:
    """The embedded SmolLM2 GGUF converted to a Hugging Face folder by `convert_gguf`, kept between
    runs under ~/.cache/aistack/test-models like the wheels and the vLLM venv (45 s of CPU a run
    otherwise), keyed by `conversion_key`: a cold cache, a new GGUF, a change to training/base.py
    or to the converting libraries runs the conversion again. With xdist, the first worker that
    needs it converts, and the others wait for it and share it. Tests read it and never write it."""
    import os

    from filelock import FileLock

    from aistack.packaged import bundled_llm_gguf
    from aistack.training.base import convert_gguf

    gguf = bundled_llm_gguf()
    cache = Path(os.environ.get("AISTACK_TEST_MODELS", Path.home() / ".cache" / "aistack" / "test-models"))
    folder = cache / f"{gguf.stem}-{conversion_key(gguf)}"
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / "convert.lock")):
        if not (folder / "config.json").is_file():
            convert_gguf(gguf, folder)  # written beside, then renamed: a killed run leaves no half folder
    return folder


@pytest.fixture(scope="session")
def trained_zephyr(tmp_path_factory: pytest.TempPathFactory, finetune_base: Path) -> tuple[dict, dict[str, str], Path]:
    """`aistack finetune zephyr` on the memorisation set (8 epochs, GGUF exports), once per run and
    shared by the fine-tuning and vLLM tests across workers: (manifest, environment, data home)."""
    import json

    from filelock import FileLock
    from support.finetune import DATA, FAST, environment, finetune

    shared = run_folder(tmp_path_factory) / "zephyr"
    shared.mkdir(exist_ok=True)
    env = environment(shared / "home", finetune_base)
    manifest = shared / "manifest.json"
    with FileLock(str(shared / "lock")):
        if not manifest.is_file():
            done = finetune(env, "zephyr", str(DATA), "--epochs", "8", *FAST, "--json")
            assert done.returncode == 0, done.stderr
            manifest.write_text(done.stdout)
    return json.loads(manifest.read_text()), env, shared / "home"


# Every process the tests start inherits this marker; at the end of the run, any that is still
# alive fails the run (and is killed), so a fixture that stops only a leader cannot hide.
RUN_MARKER = "PYTEST_AISTACK_RUN"


def pytest_configure(config: pytest.Config) -> None:
    import os
    import uuid

    os.environ.setdefault(RUN_MARKER, uuid.uuid4().hex)  # xdist's workers inherit the controller's
    if os.environ.get(SWEEP):
        log_slow_callbacks_in_process(float(os.environ[SWEEP]), os.environ.get("SLOW_CALLBACK_SWEEP_LOG", "."))


# scripts/slow-callbacks.py sets it: every event loop of the run, in process and in the gateways the
# tests start (tests/support/servers.py), logs the callbacks that hold it longer than this many ms.
SWEEP = "SLOW_CALLBACK_SWEEP_MS"


def log_slow_callbacks_in_process(milliseconds: float, folder: str) -> None:
    """asyncio's debug mode for every loop this process makes, its slow-callback log to a file."""
    import asyncio.base_events
    import asyncio.coroutines
    import logging
    import os

    asyncio.coroutines._is_debug_mode = lambda: True  # read by each new loop; PYTHONASYNCIODEBUG would reach
    asyncio.base_events.BaseEventLoop.slow_callback_duration = milliseconds / 1000  # every subprocess too
    handler = logging.FileHandler(os.path.join(folder, f"pytest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"))
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger("asyncio").addHandler(handler)


def _started_by_this_run() -> list[tuple[int, str]]:
    import os
    from pathlib import Path

    marker = f"{RUN_MARKER}={os.environ[RUN_MARKER]}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie is gone already, waiting to be reaped
            found.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]))
        except OSError:
            continue  # it exited while we looked
    return found


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os
    import signal
    import time

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller checks, once every worker is gone
    deadline = time.monotonic() + 10  # a server stopped in the last teardown may still be exiting
    left = _started_by_this_run()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _started_by_this_run()
    if not left:
        return
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lines = "\n".join(f"  {pid}: {cmd}" for pid, cmd in left)
    session.config.get_terminal_writer().line(f"processes the tests started outlived them (killed now):\n{lines}",
                                              red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


# The longest files go first, one per worker: vLLM (the shared fine-tune, then vLLM's start) and the
# resumed fine-tunes (a training of their own), so no worker is left alone with one at the end;
# test_finetune comes later in its own place and finds the shared fine-tune done.
LONGEST_FIRST = ("test_vllm.py", "test_finetune_resume.py")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
