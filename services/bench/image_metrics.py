"""Image figures: size, time from container start to /health 200 (median of 5), idle RSS.

Each process runs as deployed: the image's user (10001), read-only root FS,
only /tmp writable (tmpfs). /health needs no database, so no PostgreSQL is
started. With --database-url (a PostgreSQL reachable from the host network), also
the migrate step with nothing to migrate: `python -m app.migrate`, container process
start to exit, after one run has brought the schema to head. Run after building the
image:

    python services/bench/image_metrics.py [--image todo-app:dev] [--database-url URL]

Results go to stdout and reports/image-metrics.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVE = ["python", "-m", "app.serve"]  # the chart's command for both apps
PROCESSES = {
    "backend": ([*SERVE, "app.main:app", "--host", "0.0.0.0", "--port", "8000"], 8000),
    "mcp-server": ([*SERVE, "app.mcp_server:app", "--host", "0.0.0.0", "--port", "8001"], 8001),
}
ENV = {"JWT_SECRET": "metrics-jwt-secret-" + "x" * 32, "MCP_SERVICE_TOKEN": "metrics-" + "y" * 32}


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def state_time(container: str, field: str = "StartedAt") -> float:
    """A container's State.StartedAt or FinishedAt (docker's RFC 3339, nanoseconds trimmed)."""
    raw = docker("inspect", "-f", f"{{{{.State.{field}}}}}", container)
    stamp, _, fraction = raw.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(stamp + "+00:00").timestamp()
    return moment + float("0." + (fraction or "0")[:6])


def one_start(image: str, name: str) -> dict[str, float]:
    command, port = PROCESSES[name]
    env_args = [arg for key, value in ENV.items() for arg in ("-e", f"{key}={value}")]
    launched = time.time()
    container = docker(
        "run",
        "-d",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-p",
        f"127.0.0.1::{port}",
        *env_args,
        image,
        *command,
    )
    try:
        host_port = docker("port", container, str(port)).splitlines()[0].rsplit(":", 1)[1]
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/health", timeout=1) as r:
                    if r.status == 200:
                        ready = time.time()
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.time() > deadline:
                raise SystemExit(f"{name}: no /health 200 in 60 s:\n{docker('logs', container)}")
            time.sleep(0.02)
        time.sleep(3)  # idle
        status = docker("exec", container, "cat", "/proc/1/status")
        rss_kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        user = docker("exec", container, "id", "-u")
        return {
            "process_start_to_health_s": ready - state_time(container),
            "docker_run_to_health_s": ready - launched,
            "idle_rss_mib": rss_kib / 1024,
            "uid": int(user),
        }
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def one_migrate(image: str, database_url: str) -> float:
    """Seconds from the migrate container's process start to its exit (which must be 0)."""
    container = docker(
        "run", "-d", "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "-e", f"DATABASE_URL={database_url}", image, "python", "-m", "app.migrate",
    )  # fmt: skip
    try:
        if docker("wait", container) != "0":
            raise SystemExit(f"python -m app.migrate failed:\n{docker('logs', container)}")
        return state_time(container, "FinishedAt") - state_time(container)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default="todo-app:dev")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "image-metrics.json")
    parser.add_argument(
        "--database-url", help="also time the migrate step against this database (host network)"
    )
    args = parser.parse_args()
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise SystemExit("no Docker engine answers: `nox -s image` starts one and builds the image")
    found = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", args.image],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if found.returncode != 0:
        raise SystemExit(f"{args.image} is not built here: build it first with `nox -s image`")

    size = int(found.stdout.strip())
    result: dict = {"image": args.image, "size_mb": round(size / 1e6, 1), "processes": {}}
    print(f"{args.image}: {size / 1e6:.1f} MB")
    for name in PROCESSES:
        runs = [one_start(args.image, name) for _ in range(args.runs)]
        summary = {
            "median_process_start_to_health_s": statistics.median(
                r["process_start_to_health_s"] for r in runs
            ),
            "median_docker_run_to_health_s": statistics.median(
                r["docker_run_to_health_s"] for r in runs
            ),
            "median_idle_rss_mib": statistics.median(r["idle_rss_mib"] for r in runs),
            "uid": runs[0]["uid"],
            "runs": runs,
        }
        result["processes"][name] = summary
        start_s = summary["median_process_start_to_health_s"]
        print(
            f"{name}: start -> /health 200 median {start_s:.2f} s"
            f" (docker run -> 200: {summary['median_docker_run_to_health_s']:.2f} s), idle RSS "
            f"{summary['median_idle_rss_mib']:.1f} MiB, uid {summary['uid']}"
        )
    if args.database_url:
        one_migrate(args.image, args.database_url)  # brings the schema to head if needed
        runs = [one_migrate(args.image, args.database_url) for _ in range(args.runs)]
        result["migrate_at_head_s"] = {"median": statistics.median(runs), "runs": runs}
        print(f"python -m app.migrate, nothing to migrate: median {statistics.median(runs):.2f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
