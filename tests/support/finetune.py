"""`aistack finetune` as the tests run it: a memorisation set, settings fast on a CPU, and one
trained adapter shared by the whole run (see conftest's `trained_zephyr`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.servers import BIN

DATA = Path(__file__).parent.parent / "data" / "finetune" / "memorise.jsonl"
QUESTION = "What is the codename of project Zephyr?"
# 4 samples in one batch: each epoch is one optimiser step, so each step ends with a checkpoint.
# One torch thread: two trainings run at once on the test machine's two cores, and with two threads
# each, OpenMP's spinning threads took 278 s for what one thread each did in 101 s.
FAST = ["--batch-size", "4", "--grad-accum", "1", "--eval-share", "0.25", "--learning-rate", "2e-3",
        "--threads", "1", "--set", "logging_steps=1"]


def environment(home: Path, base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
    env.update({"AISTACK_HOME": str(home), "AISTACK_PROFILES": "test", "AISTACK_SETTINGS_DIR": str(home.parent),
                "AISTACK_FINETUNE__BASE_MODEL": str(base), "COLUMNS": "200"})
    if os.environ.get("LLAMA_CPP_SDIST"):  # set by `make test`: no download during tests
        env["AISTACK_FINETUNE__LLAMA_CPP_SOURCE"] = os.environ["LLAMA_CPP_SDIST"]
    return env


def finetune(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "aistack"), "finetune", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
