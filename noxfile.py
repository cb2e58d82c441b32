"""Entry points for building, testing and verifying todo-app.

`nox -l` lists the sessions. The main job is `nox -s e2e`; `nox -s tests`
runs everything that needs no cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Static checks: ruff over all Python code."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


# --- tests: everything that needs no cluster (session owned by services) -----------------
# One pytest run over every suite listed here: to add a suite, append its install
# arguments to TEST_INSTALLS and its paths to TEST_PATHS (extra setup goes in tests()).
TEST_INSTALLS: list[tuple[str, ...]] = [("-e", "./services[test]"), ("-r", "perf/requirements.txt")]
TEST_PATHS: list[str] = ["services/tests", "perf/tests", ".ci/tests"]


def _ensure_postgresql(session: nox.Session) -> None:
    """services/tests start a throwaway PostgreSQL from the server binaries (pg_ctl)."""
    import shutil

    if shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        return
    if os.geteuid() == 0 and Path("/etc/debian_version").exists():
        session.log("pg_ctl not found: installing Debian's PostgreSQL server (apt-get)")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-q", external=True, env=env)
        packages = ["--no-install-recommends", "postgresql"]
        session.run("apt-get", "install", "-y", "-q", *packages, external=True, env=env)
        return
    session.error(
        "pg_ctl not found. The services tests start their own PostgreSQL from the server "
        "binaries: install them (Debian/Ubuntu: `sudo apt-get install postgresql`; "
        "macOS: `brew install postgresql`) or put pg_ctl on PATH, then rerun."
    )


@nox.session(python=PYTHON, tags=["tests"])
def tests(session: nox.Session) -> None:
    """Unit and integration tests that need no cluster (PostgreSQL started by the suite)."""
    _ensure_postgresql(session)
    _ensure_helm(session)
    _ensure_actionlint(session)
    for install in TEST_INSTALLS:
        session.install(*install)
    session.run("pytest", *(session.posargs or TEST_PATHS))


@nox.session(python=PYTHON, default=False, tags=["bench"])
def bench(session: nox.Session) -> None:
    """Create-task throughput: backend -> MCP -> PostgreSQL vs direct inserts (JSON report)."""
    _ensure_postgresql(session)
    session.install("-e", "./services[test]")
    session.run("python", "services/bench/create_task_throughput.py", *session.posargs)


@nox.session(name="image-metrics", python=PYTHON, default=False, tags=["bench"])
def image_metrics(session: nox.Session) -> None:
    """Size, start -> /health 200 and idle RSS of todo-app:dev (build it first: nox -s image)."""
    session.run("python", "services/bench/image_metrics.py", *session.posargs)


# --- chart checks without a cluster (owned by the chart helper) --------------------------
# chart/tests: helm lint --strict, the template matrix validated against the Kubernetes
# schemas of several minors, the rendered objects' promises, bad values, README table.
CHART_REQUIREMENTS = "chart/tests/requirements.txt"
TEST_INSTALLS.append(("-r", CHART_REQUIREMENTS))
TEST_PATHS.append("chart/tests")


def _ensure_helm(session: nox.Session) -> None:
    """<cache>/bin/helm at the pin in airgap/versions.py (built once, then seconds)."""
    session.run("python", "-c", "from airgap.tools import tool_path; print(tool_path('helm'))")


@nox.session(python=PYTHON, default=False, tags=["tests"])
def chart(session: nox.Session) -> None:
    """Chart checks only (lint, template matrix, Kubernetes schemas, bad values); no cluster."""
    _ensure_helm(session)
    # ./services too: a test checks the helm test pods import only what the image ships.
    session.install("-r", CHART_REQUIREMENTS, "./services")
    session.run("pytest", "chart/tests", *session.posargs)


# --- airgap: Docker engine, tools, local images, kind node image (owned by airgap) -------
# `nox -s airgap` = `python -m airgap all` (cached; a warm rerun takes seconds), then the
# docker-level image tests. posargs choose steps: `nox -s airgap -- tools`, `-- status`.
# `nox -s airgap-smoke` adds issue 3's cluster smoke test on a fresh kind cluster.


@nox.session(python=PYTHON, default=False, tags=["airgap"])
def airgap(session: nox.Session) -> None:
    """Build what kind and the suites need without a registry (cached), test the images."""
    steps = session.posargs or ["all"]
    session.install("pytest")
    session.run("python", "-m", "airgap", *steps)
    if any(s in ("all", "images") for s in steps):
        session.run("pytest", "airgap/tests/test_images_docker.py", "-m", "docker")


@nox.session(name="airgap-smoke", python=PYTHON, default=False, tags=["airgap"])
def airgap_smoke(session: nox.Session) -> None:
    """Issue 3's proof: a kind cluster from the built node image, with no registry."""
    session.install("pytest")
    session.run("python", "-m", "airgap", "all")
    session.run("pytest", "airgap/tests/test_cluster_smoke.py", "-m", "cluster", *session.posargs)


# --- e2e: image, kind cluster, release, suite, report (owned by the e2e harness) ---------
# Options come from posargs (passed to pytest) and environment variables:
#   E2E_NODE_IMAGE / E2E_K8S_VERSION   kind node image, or a pinned Kubernetes minor
#   E2E_VALUES                         extra Helm values file (e.g. values-production.yaml)
#   E2E_KEEP_CLUSTER=1 / E2E_REUSE_CLUSTER=1, E2E_KUBECONFIG   keep / reuse / existing cluster
#   TODO_IMAGE_SOURCE=upstream|local   registry images or the ones built here by airgap
# e.g. `nox -s e2e -- --keep-cluster -k health`, `E2E_K8S_VERSION=v1.33 nox -s e2e`.

E2E_REQUIREMENTS = "e2e/requirements.txt"
# e2e/unit: the harness's pure parts and the workflows (actionlint, pins, matrix source).
TEST_PATHS.append("e2e/unit")
# airgap/node: kind node image recipe (go.mod wrappers, kind's Go-source manifests); no Docker.
TEST_PATHS.append("airgap/node/tests")
# NetworkPolicy enforcer: nft-queue probe decisions, kube-router manifest, image entrypoint.
TEST_PATHS.append("airgap/tests/test_netpol.py")
# airgap host side without Docker: runc wrapper, image-source choice, pins vs the kind
# module, progress table, kindnetd's Go tests. (test_images_docker.py: `nox -s airgap`;
# test_cluster_smoke.py: `nox -s airgap-smoke`.)
TEST_PATHS += [
    "airgap/tests/test_runc_wrapper.py",
    "airgap/tests/test_docker_engine.py",
    "airgap/tests/test_image_source.py",
    "airgap/tests/test_versions.py",
    "airgap/tests/test_progress.py",
    "airgap/tests/test_kindnetd.py",
]


def _ensure_actionlint(session: nox.Session) -> None:
    """<cache>/bin/actionlint at the pin in airgap/versions.py (e2e/unit lints the workflows)."""
    session.run(
        "python", "-c", "from airgap.tools import tool_path; print(tool_path('actionlint'))"
    )


def _harness():
    """e2e.harness (stdlib only) imported from the repository, for phases and names."""
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from e2e import harness

    return harness


def _ensure_airgap(session: nox.Session, *, node: bool = True) -> str:
    """Docker engine + pinned tools, and the local images when no registry is reachable."""
    source = (
        session.run(
            "python",
            "-c",
            "from airgap.images import image_source; print(image_source())",
            silent=True,
        )
        .strip()
        .splitlines()[-1]
    )
    steps = ["docker", "tools"]
    if source == "local":
        steps += ["images", "node"] if node else ["images"]
    session.log(f"image source: {source}; python -m airgap {' '.join(steps)}")
    session.run("python", "-m", "airgap", *steps)
    return source


def _uses_existing_cluster(posargs: list[str]) -> bool:
    return any(a == "--kubeconfig" or a.startswith("--kubeconfig=") for a in posargs) or bool(
        os.environ.get("E2E_KUBECONFIG")
    )


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def e2e(session: nox.Session) -> None:
    """Everything end to end: image, kind cluster, helm install, e2e suite, report."""
    import time

    harness = _harness()
    started = time.monotonic()
    harness.reset_phases()
    with harness.phase("python deps"):
        session.install("-r", E2E_REQUIREMENTS)
    existing_cluster = _uses_existing_cluster(session.posargs)
    with harness.phase("airgap pieces"):
        source = _ensure_airgap(session, node=not existing_cluster)
    if source == "local" and not existing_cluster:
        # The air-gapped images are only as good as what they prove: every e2e run also
        # runs issue 3's image tests and its own-cluster smoke test, so a regression in
        # the image build fails here, before the release is even built.
        with harness.phase("airgap proof"):
            session.run(
                "pytest", "airgap/tests/test_images_docker.py",
                "airgap/tests/test_cluster_smoke.py", "-m", "docker or cluster",
                "--junitxml=reports/airgap-junit.xml",
            )  # fmt: skip
    session.run("python", "-m", "e2e.harness", "image")  # records "image build"
    try:
        session.run(
            "pytest",
            "e2e",
            "--ignore=e2e/unit",
            # -s: progress of long phases (cluster, image load, helm, load run) shows live.
            "-s",
            "--junitxml=reports/e2e-junit.xml",
            "-o",
            "junit_family=xunit2",
            "-o",
            "junit_suite_name=todo-app-e2e",
            *session.posargs,
            env={"PYTHONUNBUFFERED": "1"},
        )
    finally:
        harness.record_phase("nox -s e2e total", time.monotonic() - started)
        for p in harness.read_phases():
            session.log(f"phase {p['name']:<24} {p['seconds']:>7.1f} s  {p['status']}")
        session.log("report: reports/e2e-summary.md, reports/e2e-junit.xml")


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def image(session: nox.Session) -> None:
    """Build the application image todo-app:dev (offline base image without a registry)."""
    _ensure_airgap(session, node=False)
    session.run("python", "-m", "e2e.harness", "image")


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def cluster(session: nox.Session) -> None:
    """Bring up (or reuse) kind cluster todo-e2e with images and metrics-server; keep it."""
    session.install("-r", E2E_REQUIREMENTS)
    _ensure_airgap(session)
    session.run("python", "-m", "e2e.harness", "cluster", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def deploy(session: nox.Session) -> None:
    """helm upgrade --install the release into namespace todo-dev of the kept cluster."""
    session.install("-r", E2E_REQUIREMENTS)
    session.run("python", "-m", "e2e.harness", "deploy", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def teardown(session: nox.Session) -> None:
    """Delete the kind cluster todo-e2e (and everything in it)."""
    session.install("-r", E2E_REQUIREMENTS)
    session.run("python", "-m", "e2e.harness", "teardown", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def report(session: nox.Session) -> None:
    """Rebuild reports/e2e-summary.md and the HPA plot from the last run's results."""
    session.install("matplotlib")
    session.run("python", "-m", "e2e.report")


# --- perf: Locust load, SLOs, report (owned by perf) -------------------------------------
# Brings up (or reuses) perf's own kind cluster todo-perf (NodePort on 127.0.0.1:30081, so it
# never collides with e2e's todo-e2e) with release `todo` in namespace todo-perf, then
# `python -m perf` writes reports/perf/<UTC timestamp>/report.md. posargs go to
# `python -m perf`: `nox -s perf -- --shape step`, `-- --phases main`, `-- --local` (no
# cluster). PERF_CLUSTER_NAME / PERF_HOST_PORT / PERF_NAMESPACE pick another cluster.

PERF_REQUIREMENTS = "perf/requirements.txt"


@nox.session(python=PYTHON, default=False, tags=["perf"])
def perf(session: nox.Session) -> None:
    """Load test the release with Locust, check perf/slo.yaml, write reports/perf/<ts>/."""
    session.install("-r", E2E_REQUIREMENTS, "-r", PERF_REQUIREMENTS)
    if "--local" in session.posargs:
        session.install("-e", "services")
    else:
        _ensure_airgap(session)
        session.run("python", "-m", "e2e.harness", "image")
        session.run("python", "-m", "perf.cluster")
    session.run("python", "-m", "perf", *session.posargs)
