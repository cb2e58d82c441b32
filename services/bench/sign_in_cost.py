"""What a sign-in (POST /api/v1/auth/token) costs the backend: time, CPU and memory.

The backend on loopback (harness.local's stack: a throwaway PostgreSQL, one uvicorn
process per app), one user signed up, then:
- `sign_in`: SIGN_INS sign-ins one after another, each timed from the client (median,
  p95) and the backend's CPU per sign-in (all its threads, /proc/<pid>/stat);
- `peak_mib`: the backend's peak resident memory during one sign-in, above its resident
  memory before it (the kernel's high-water mark, reset before each sign-in through
  /proc/<pid>/clear_refs; needs root or the right to trace the process);
- `legacy_first_sign_in`: the first sign-in of users whose stored hash is scrypt, as
  releases before argon2id made them (the check, the new hash, its UPDATE);
- `rss_growth_mib`: the backend's resident memory after 6 sign-ins in a row and after 4
  at once (twice), above what it was before them: a hash's memory must go back to the
  system when it is freed.

Results go to stdout and to reports/bench-sign-in.json.

Run (after `nox -s bench` made its virtualenv):
`.nox/bench/bin/python services/bench/sign_in_cost.py [--sign-ins 60]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import psycopg

SERVICES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SERVICES.parent))  # harness.local: the repository's local stack

from harness import local  # noqa: E402

PASSWORD = "correct horse battery"
# PASSWORD as releases before argon2id stored it (scrypt, N=2^14, r=8, p=1).
LEGACY_SCRYPT = (
    "scrypt$16384$8$1$wjieHWJTux1Irn16EuSkxQ==$AyDpUCf2dOnuUYDLkWsDrPKElVQkTjROCyBZi21eCOk="
)


def status_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status)[1])


def rss_mib(pid: int) -> float:
    return status_kib(pid, "VmRSS") / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> None:
    """The high-water mark (VmHWM) back to the current resident set (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def sign_in(client: httpx2.Client, username: str) -> float:
    """One sign-in; its wall time in seconds."""
    began = time.perf_counter()
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def measure(stack: local.LocalStack, args: argparse.Namespace) -> dict:
    pid = stack.backend.process.pid
    username = f"bench_{uuid.uuid4().hex[:8]}"
    with httpx2.Client(base_url=stack.backend_url, timeout=60) as client:
        created = client.post("/api/v1/users", json={"username": username, "password": PASSWORD})
        created.raise_for_status()
        for _ in range(3):  # warm-up: imports, connections, the first hash's allocations
            sign_in(client, username)

        rss_before = rss_mib(pid)
        for _ in range(6):
            sign_in(client, username)
        in_a_row = rss_mib(pid) - rss_before
        with ThreadPoolExecutor(4) as pool:
            for _ in range(2):
                list(pool.map(lambda _: sign_in(client, username), range(4)))
        at_once = rss_mib(pid) - rss_before

        times, cpu, peaks = [], [], []
        for _ in range(args.sign_ins):
            can_reset = _try_reset_peak(pid)
            rss = rss_mib(pid)
            cpu_before = cpu_seconds(pid)
            times.append(sign_in(client, username))
            cpu.append(cpu_seconds(pid) - cpu_before)
            if can_reset:
                peaks.append(status_kib(pid, "VmHWM") / 1024 - rss)

        legacy = []
        for _ in range(args.legacy_users):
            name = f"legacy_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO users (username, password_hash) VALUES (%s, %s)",
                    (name, LEGACY_SCRYPT),
                )
            legacy.append(sign_in(client, name))
    return {
        "sign_in": {
            "count": len(times),
            "median_ms": statistics.median(times) * 1000,
            "p95_ms": percentile(times, 95) * 1000,
            "backend_cpu_ms_per_sign_in": sum(cpu) * 1000 / len(cpu),
        },
        "peak_mib": {
            "median": statistics.median(peaks) if peaks else None,
            "max": max(peaks) if peaks else None,
        },
        "legacy_first_sign_in": {
            "count": len(legacy),
            "median_ms": statistics.median(legacy) * 1000 if legacy else None,
        },
        "rss_growth_mib": {"after_6_in_a_row": in_a_row, "after_4_at_once_twice": at_once},
        "backend_rss_mib_at_end": rss_mib(pid),
    }


def _try_reset_peak(pid: int) -> bool:
    try:
        reset_peak(pid)
    except OSError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sign-ins", type=int, default=60)
    parser.add_argument("--legacy-users", type=int, default=10)
    parser.add_argument(
        "--output", type=Path, default=SERVICES.parent / "reports" / "bench-sign-in.json"
    )
    args = parser.parse_args()
    with local.stack(database_url=os.environ.get("DATABASE_URL")) as stack:
        result = measure(stack, args)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_at_end": os.getloadavg(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    s, peak, rss = result["sign_in"], result["peak_mib"], result["rss_growth_mib"]
    print(
        f"sign-in: median {s['median_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms "
        f"({s['count']} one after another), backend CPU {s['backend_cpu_ms_per_sign_in']:.1f} ms"
    )
    print(
        f"peak memory of a sign-in above the backend's RSS: median {peak['median']:.1f} MiB, "
        f"max {peak['max']:.1f} MiB"
    )
    legacy = result["legacy_first_sign_in"]
    print(f"first sign-in of a user with a scrypt hash: median {legacy['median_ms']:.1f} ms")
    print(
        f"backend RSS growth: {rss['after_6_in_a_row']:+.1f} MiB after 6 sign-ins in a row, "
        f"{rss['after_4_at_once_twice']:+.1f} MiB after 4 at once (twice)"
    )
    print(f"load average at the end: {result['machine']['loadavg_at_end']}")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
