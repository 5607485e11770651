"""The slow-callback sweep (issue 20, item 2): run the test suite with asyncio's debug mode on every
event loop, in process and in each gateway the tests start, then list the callbacks that held a loop
longer than the threshold, slowest first, grouped by where they run.

    .venv/bin/python scripts/slow-callbacks.py [--ms 20] [pytest arguments...]

Debug mode makes everything slower, so a figure here is an upper bound; what it finds is where
the loop was held, to be checked without debug mode."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

SLOW = re.compile(r"Executing (?P<handle>.*) took (?P<seconds>\d+\.\d+) seconds")
WHERE = re.compile(r"(?:running at|created at) (?P<where>\S+:\d+)")
# a stack whose innermost frame is here was not our code: the thread waited in select() (the OS had
# not run it yet, on a busy machine) or ran debug mode's own bookkeeping (a traceback per callback)
NOT_OURS = ("selectors.py", "linecache.py", "format_helpers.py", "traceback.py")
FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)')


def messages(log: Path):
    """Each log message (a JSON line's msg, or a plain line) of one log."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                yield json.loads(line).get("msg", "")
            except ValueError:
                continue
        else:
            yield line


def short(path: str) -> str:
    return path.split("site-packages/")[-1].split("/src/")[-1]


def sweep(folder: Path) -> tuple[dict[str, list[float]], dict[str, int]]:
    """asyncio's slow callbacks by task and place, and the gateways' stall stacks by innermost
    aistack frame (the code that held the loop; the stdlib's or a library's where none is)."""
    slow: dict[str, list[float]] = defaultdict(list)
    stalls: dict[str, int] = defaultdict(int)
    for log in folder.rglob("*.log"):
        for message in messages(log):
            if (found := SLOW.search(message)) is not None:
                places = WHERE.findall(found["handle"])
                place = " <- ".join(short(p) for p in places[:2]) if places else found["handle"][:160]
                slow[f"{log.stem.split('-')[0]}: {place}"].append(float(found["seconds"]) * 1000)
            elif message.startswith("event loop held"):
                frames = FRAME.findall(message)
                if not frames or frames[-1][0].endswith(NOT_OURS):
                    continue
                ours = [f for f in frames if "/aistack/" in f[0] and "slowloop" not in f[0]] or frames
                if ours:
                    file, line, function = ours[-1]
                    innermost = frames[-1]
                    stalls[f"{short(file)}:{line} {function} (innermost {short(innermost[0])}:{innermost[1]})"] += 1
    return slow, stalls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=float, default=20.0, help="threshold in milliseconds")
    parser.add_argument("--logs", type=Path, help="only list what an earlier sweep left in this folder")
    args, pytest_args = parser.parse_known_args()
    folder = args.logs
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="slow-callbacks-"))
        env = {**os.environ, "SLOW_CALLBACK_SWEEP_MS": str(args.ms), "SLOW_CALLBACK_SWEEP_LOG": str(folder)}
        command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile", "--no-loadscope-reorder",
                   f"--basetemp={folder / 'tmp'}", *pytest_args]
        print(" ".join(command), file=sys.stderr)
        subprocess.run(command, env=env, check=False)
    slow, stalls = sweep(folder)
    print("asyncio's slow callbacks (slowest first):")
    for place, times in sorted(slow.items(), key=lambda item: -max(item[1])):
        print(f"{max(times):8.0f} ms max {len(times):5d}x  {place}")
    print("\nwhere the gateways' loops were held (stall stacks, most often first):")
    for place, count in sorted(stalls.items(), key=lambda item: -item[1]):
        print(f"{count:5d}x  {place}")
    print(f"{len(slow)} tasks over {args.ms:g} ms, {len(stalls)} places; logs in {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
