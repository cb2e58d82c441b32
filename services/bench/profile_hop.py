"""Where the create-task hop spends its CPU: py-spy profiles of both servers under load.

Same setup as create_task_throughput.py (throwaway PostgreSQL unless DATABASE_URL
is set, one uvicorn worker per app, LOG_LEVEL INFO): a closed loop of
POST /api/v1/tasks at fixed concurrency while `py-spy record` samples the
backend and the MCP server (idle samples excluded). Prints, per process, the
share of samples by package of the running frame, the top frames by own time
and by inclusive time. The collapsed stacks go to reports/profile-<process>.txt
(any flame graph tool reads them).

Needs the right to trace other processes (root, or kernel.yama.ptrace_scope=0).

Run: `nox -s profile [-- --seconds 20 --concurrency 16]` (installs py-spy).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from create_task_throughput import SERVICES, closed_loop, create_task_ops, served_apps

_FRAME = re.compile(r"(?P<function>.*) \((?P<file>.*):\d+\)$")


def where(file: str) -> str:
    """A frame's file, shortened to its package path (site-packages/, app/, the stdlib)."""
    if "/site-packages/" in file:
        return file.split("/site-packages/", 1)[1]
    if app := re.search(r"(?:^|/services/)(app/.*)$", file):
        return app[1]
    return re.sub(r".*/lib/python3\.\d+/", "", file)


def package(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return "(native)"
    path = where(match["file"])
    top = path.split("/", 1)[0].removesuffix(".py")
    return ".".join(path.split("/")[:2]).removesuffix(".py") if top == "app" else top


def label(frame: str) -> str:
    match = _FRAME.match(frame)
    return f"{match['function']} ({where(match['file'])})" if match else frame


def summarize(collapsed: Path, top: int, below: float) -> str:
    """Share of samples: by package of the running frame, own time, inclusive time.

    The inclusive table leaves out frames above `below` percent: the server's own call
    chain (event loop, uvicorn, middleware) holds every request and would fill it.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples = int(count)
        total += samples
        own[label(frames[-1])] += samples
        packages[package(frames[-1])] += samples
        for frame in {label(f) for f in frames}:
            inclusive[frame] += samples
    lines = [f"{total} samples"]
    inclusive = Counter({k: n for k, n in inclusive.items() if 100 * n / total < below})
    for title, counter in (
        ("by package (running frame)", packages),
        ("own time", own),
        (f"inclusive time (frames under {below:.0f}%)", inclusive),
    ):
        lines.append(f"  -- {title}")
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


async def load(backend_url: str, concurrency: int, seconds: float) -> dict:
    async with create_task_ops(backend_url, "raw") as ops:
        return await closed_loop(ops["hop"], concurrency=concurrency, duration=seconds, warmup=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="seconds recorded")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument(
        "--inclusive-below", type=float, default=55.0, help="percent; see summarize()"
    )
    parser.add_argument("--output", type=Path, default=SERVICES.parent / "reports")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy not found: run this through `nox -s profile`, which installs it")
    args.output.mkdir(parents=True, exist_ok=True)

    with served_apps() as apps:
        outputs = {
            "backend": (apps.backend.process.pid, args.output / "profile-backend.txt"),
            "mcp-server": (apps.mcp.process.pid, args.output / "profile-mcp-server.txt"),
        }
        asyncio.run(load(apps.backend_url, args.concurrency, 2))  # imports, pools, caches
        recorders = [
            subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--duration", str(args.seconds)]
                + ["--rate", str(args.rate), "--format", "raw", "--output", str(path)]
                + ["--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for pid, path in outputs.values()
        ]
        # The load outlasts the recording, so every sample is taken under load.
        result = asyncio.run(load(apps.backend_url, args.concurrency, args.seconds + 2))
        for recorder in recorders:
            _, err = recorder.communicate()
            if recorder.returncode != 0:
                raise SystemExit(f"py-spy failed: {err}")
    print(
        f"load: {result['rps']:.0f} req/s, p95 {result['p95_ms']:.1f} ms, "
        f"{result['errors']} errors, concurrency {args.concurrency}"
    )
    for name, (_, path) in outputs.items():
        print(f"\n== {name} ({path})\n{summarize(path, args.top, args.inclusive_below)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
