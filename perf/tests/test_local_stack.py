"""The scenarios and the ceiling loop against the real servers on loopback.

harness.local starts a throwaway PostgreSQL (Debian's binaries), runs the
migrations and starts the backend, the MCP server and the web front end under
uvicorn. Locust then runs the real locustfile (backend users, the MCP agent
through the official SDK client, front end users through the pages) in its own
process, as `nox -s perf` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import local
from perf import samples, summary

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack():
    with local.stack() as s:
        yield s


def _locust(stack, tmp_path, classes: str, users: int, seconds: int) -> list[samples.Sample]:
    out = tmp_path / "samples.csv"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PERF_SHAPE": "constant",
        "PERF_USERS": str(users),
        "PERF_DURATION": str(seconds),
        "PERF_THINK": "0.1,0.3",
        "PERF_USERS_CLASSES": classes,
        "PERF_MCP_URL": stack.mcp_url,
        "PERF_FRONTEND_URL": stack.frontend_url,
        "PERF_SAMPLES_FILE": str(out),
    }
    cmd = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "perf" / "locustfile.py"),
        "--headless", "-H", stack.backend_url, "--csv", str(tmp_path / "run"),
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    proc = subprocess.run(  # noqa: S603 - our own locustfile, loopback target
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 120
    )
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "run_stats.csv").exists()
    return samples.read(out)


def test_backend_users_and_mcp_agent_run_without_failures(stack, tmp_path):
    got = _locust(stack, tmp_path, "TodoUser,McpAgent", users=4, seconds=15)
    stats = summary.endpoint_stats(got)
    failed = {name: f["failures"] for name, f in stats.items() if f["failures"]}
    assert failed == {}, failed
    for name in (
        "POST /api/v1/users",
        "POST /api/v1/auth/token",
        "POST /api/v1/tasks",
        "GET /api/v1/tasks?status=open",
        "mcp:connect",
        "mcp:add_task",
        "mcp:list_tasks",
    ):
        assert stats.get(name, {}).get("requests", 0) > 0, f"{name} was never called"
    # the agent is one fixed user (PERF_AGENTS=1); the rest are backend users
    assert stats["mcp:connect"]["requests"] == 1


def test_frontend_users_work_through_the_pages_without_failures(stack, tmp_path):
    got = _locust(stack, tmp_path, "FrontendUser", users=3, seconds=15)
    stats = summary.endpoint_stats(got)
    failed = {name: f["failures"] for name, f in stats.items() if f["failures"]}
    assert failed == {}, failed
    for name in ("page:POST /signup", "page:GET /tasks", "page:POST /tasks"):
        assert stats.get(name, {}).get("requests", 0) > 0, f"{name} was never called"
    # Every request went to the front end: no backend request name among them.
    assert all(n.startswith("page:") for n in stats if n != summary.AGGREGATED), sorted(stats)


def test_frontend_users_join_the_default_mix_only_with_a_frontend_url(stack, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PERF_FRONTEND_URL": stack.frontend_url}
    env.pop("PERF_USERS_CLASSES", None)
    probe = "import perf.locustfile as f; print(f.FrontendUser.abstract, f.TodoUser.abstract)"
    command = [sys.executable, "-c", probe]
    with_url = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert with_url.stdout.split() == ["False", "False"]
    env.pop("PERF_FRONTEND_URL")
    without = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert without.stdout.split() == ["True", "False"]


def test_ceiling_users_hit_one_endpoint_each(stack, tmp_path):
    got = _locust(stack, tmp_path, "HealthUser", users=2, seconds=3)
    assert {s.name for s in got} == {"GET /health"}
    assert all(s.ok for s in got) and len(got) > 20


def test_direct_database_loop_and_pgbench(stack):
    from perf import ceiling

    pgbench = ceiling.run_pgbench([], stack.pg_env())
    result = ceiling.db_ceiling(stack.database_url, workers=2, seconds=2, pgbench=pgbench)
    for op in ("insert", "select"):
        assert result[op]["ops"] > 10 and result[op]["errors"] == 0
        assert result[op]["p50_ms"] <= result[op]["p95_ms"] <= result[op]["p99_ms"]
        bench = result["pgbench"][op]
        assert bench["ops_per_s"] > 10 and bench["errors"] == 0 and bench["mean_ms"] > 0
