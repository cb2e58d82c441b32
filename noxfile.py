"""Entry points for building, testing and verifying todo-app.

`nox -l` lists the sessions. The main job is `nox -s e2e`; `nox -s tests`
runs everything that needs no cluster.

A run flows one way: this file decides the run once (image source, images,
NetworkPolicy enforcer: `toolchain.decide`), checks the host
(`python -m toolchain host`), starts the Docker engine and builds the pinned
tools, makes every image ready (`python -m harness images`), and only then
starts pytest, whose harness plugin stands the release up once. Nothing is
built or installed on the host once pytest has started. Every step's wall
time goes to one phase file per session, printed at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))  # toolchain and harness.settings are stdlib-only

from e2e import repeat  # noqa: E402 - standard library only at import
from harness import settings as harness_settings  # noqa: E402
from toolchain import browser, decide, progress  # noqa: E402

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
REPORTS = ROOT / "reports"
# Every suite's requirements, installed by one pip call: one resolution and one build of the
# editable services package (four calls took 7.4 s on a warm machine, one takes 3.9 s).
TEST_REQUIREMENTS = (
    "-e", "./services[test]",
    "-r", "e2e/requirements.txt",
    "-r", "perf/requirements.txt",
    "-r", "chart/tests/requirements.txt",
    "-r", ".ci/tests/requirements.txt",
    "-r", "harness/tests/requirements.txt",
)  # fmt: skip


# --- shared steps ---------------------------------------------------------------------


def _phases(session: nox.Session, name: str) -> dict[str, str]:
    """Start this session's phase file; its environment for every process."""
    path = REPORTS / f"{name}-phases.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    os.environ[progress.PHASES_ENV] = str(path)
    progress.set_label("nox")
    return {progress.PHASES_ENV: str(path)}


def _print_phases(session: nox.Session, started: float) -> None:
    phases = progress.read_phases()
    session.log("phase table (wall time of every step):\n" + progress.phase_table(phases))
    session.log(f"session total: {progress.format_seconds(time.monotonic() - started)}")


def _report(session: nox.Session, env: dict[str, str]) -> None:
    """The run's page from what it recorded, whatever happened: pytest writes it too, but a
    run that stopped before pytest has only this one, and this one sees every phase."""
    try:
        session.run("python", "-m", "report", "--step-summary", str(REPORTS), env=env)
    except nox.command.CommandFailed:
        session.warn("could not write reports/index.html from the recorded files")


def _toolchain(session: nox.Session, *steps: str, purposes: str, env: dict[str, str]) -> None:
    session.run("python", "-m", "toolchain", *steps, "--for", purposes, env=env)


@contextmanager
def _refused_in_one_line(session: nox.Session) -> Iterator[None]:
    """A refusal of the run's options or decisions (a ValueError: DecisionError, BrowserError
    and the option table's are ValueErrors too) ends the session with its message alone."""
    try:
        yield
    except ValueError as exc:
        session.error(str(exc))


def _decide(session: nox.Session, settings: harness_settings.Settings) -> dict[str, str]:
    """The run's decisions, once (one registry probe at most), as the children's environment."""
    with _refused_in_one_line(session):
        choice = decide.current(**settings.decision_args())
    session.log(f"decided once for this run: {choice.describe()}")
    return choice.env()


def _settings(session: nox.Session, prefix: str, posargs: list[str], defaults: dict | None = None):
    """Settings as the harness will see them (environment + posargs), for the decisions."""
    import argparse

    with _refused_in_one_line(session):
        parser = argparse.ArgumentParser(add_help=False)
        harness_settings.add_cli_options(parser, prefix, defaults)
        known, _ = parser.parse_known_args(posargs)
        given = {o.name: getattr(known, o.name) for o in harness_settings.OPTIONS}
        return harness_settings.from_mapping(given, prefix, defaults)


def _browser_purposes(browser_kind: str) -> list[str]:
    """The host check's purposes for the browser tests: Playwright's driver's library, and
    Debian's Chromium when the run drives it."""
    return ["browser", "system-browser"] if browser_kind == "system" else ["browser"]


def _ensure_browser(session: nox.Session, browser_kind: str, env: dict[str, str]) -> None:
    """What the browser tests need, before they start: Playwright's own Chromium when the
    run drives it (a download, with internet), and the pinned axe-core script."""
    if browser_kind == "playwright":
        session.run("python", "-m", "playwright", "install", "chromium", env=env)
    session.run("python", "-m", "toolchain", "axe", env=env)


def _cluster_tools(settings: harness_settings.Settings) -> list[str]:
    """The pinned tools a cluster run uses: both Helm majors (the upgrade promise installs
    with Helm 3 and upgrades with the run's Helm), crane where it pushes images, the
    registry where it runs the local one."""
    tools = ["kind", "helm", "helm3", "kubectl"]
    if settings.registry or settings.local_registry:
        tools.append("crane")
    if settings.local_registry:
        tools.append("registry")
    return tools


def _prepare_cluster_run(
    session: nox.Session,
    settings: harness_settings.Settings,
    env: dict[str, str],
    *,
    browser_tests: bool = False,
) -> dict[str, str]:
    """Host, engine, tools, every image (and the browser, for browser tests): all before
    any test starts."""
    env = {**env, **_decide(session, settings)}
    choice = decide.RunChoice.from_json(env[decide.ENV_CHOICE])
    purposes = ["cluster", "offline"] if choice.source == "local" else ["cluster"]
    if browser_tests:
        purposes += _browser_purposes(choice.browser)
    session.run("python", "-m", "toolchain", "host", "docker", "tools", "--for", ",".join(purposes),
                "--tools", ",".join(_cluster_tools(settings)), env=env)  # fmt: skip
    if browser_tests:
        _ensure_browser(session, choice.browser, env)
    images = ["python", "-m", "harness", "images"]
    if settings.existing_cluster:
        images.append("--no-node")
    # The images step decides how the images will reach the cluster (and refuses one that
    # could not get them) from the same settings the run was given, posargs included.
    session.run(*images, env={**env, **harness_settings.env_for(settings, "E2E")})
    return env


# --- sessions -------------------------------------------------------------------------


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Static checks: ruff over all Python code."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, tags=["tests"])
def tests(session: nox.Session) -> None:
    """Every test that needs no cluster and no Docker (PostgreSQL started by the suite)."""
    started = time.monotonic()
    env = _phases(session, "tests")
    try:
        # The report's page is opened in a real browser: decided once, like a cluster run's.
        with _refused_in_one_line(session):
            source, _ = decide.image_source(dict(os.environ))
            browser_kind, why = browser.decide(dict(os.environ), source)
        session.log(f"browser: {browser_kind} ({why})")
        env[browser.ENV_BROWSER] = browser_kind
        purposes = ["tests", *_browser_purposes(browser_kind)]
        _toolchain(session, "host", purposes=",".join(purposes), env=env)
        # Both helms and actionlint for the chart, helm-flag and workflow checks, the
        # registry and crane for the registry tests.
        session.run("python", "-m", "toolchain", "tools", "--tools",
                    "helm,helm3,actionlint,registry,crane", env=env)  # fmt: skip
        session.install(*TEST_REQUIREMENTS)
        _ensure_browser(session, browser_kind, env)
        # The unit tests exercise the step timer themselves: keep them out of the phase table.
        no_phases = {**env, progress.PHASES_ENV: ""}
        session.run("pytest", "-m", "not docker and not cluster", *session.posargs, env=no_phases)
    finally:
        _print_phases(session, started)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def e2e(session: nox.Session) -> None:
    """Everything end to end: images, kind cluster, helm install, the promises, report."""
    started = time.monotonic()
    env = _phases(session, "e2e")
    with _refused_in_one_line(session):
        runs, posargs = repeat.split_args(session.posargs)
    pytest = [
        "pytest", "-m", "docker or cluster", "-s", "--junitxml=reports/e2e-junit.xml",
        "-o", "junit_family=xunit2", "-o", "junit_suite_name=todo-app-e2e",
        *harness_settings.joined_for_pytest(posargs),
    ]  # fmt: skip
    try:
        with progress.step("python deps"):
            # Every suite's: pytest collects all testpaths and picks the docker/cluster tests.
            session.install(*TEST_REQUIREMENTS)
        settings = _settings(session, "E2E", posargs)
        env = _prepare_cluster_run(session, settings, env, browser_tests=True)
        if runs == 1:
            session.run(*pytest, env={**env, "PYTHONUNBUFFERED": "1"})
            return
        # The same leg `runs` times, each on a cluster of its own (e2e/repeat.py says why).
        shutil.rmtree(repeat.FOLDER, ignore_errors=True)
        for index in range(1, runs + 1):
            session.log(f"repeat: run {index} of {runs}")
            repeat.clear()  # what the run collects afterwards is its own, or nothing
            phases = repeat.run_folder(index) / "reports" / "e2e-phases.jsonl"
            phases.parent.mkdir(parents=True, exist_ok=True)
            run_env = {**env, "PYTHONUNBUFFERED": "1", progress.PHASES_ENV: str(phases)}
            session.run(*pytest, success_codes=range(0, 6), env=run_env)
            session.run("python", "-m", "e2e.repeat", "collect", str(index), env=env)
        session.run("python", "-m", "e2e.repeat", "summary", env=env)
    finally:
        if runs == 1:
            _report(session, env)
        _print_phases(session, started)
        where = "reports/repeat/index.html" if runs > 1 else "reports/index.html"
        session.log(f"report: {where} (open it), reports/e2e-summary.md, reports/e2e-junit.xml")


@nox.session(python=PYTHON, default=False, tags=["perf"])
def perf(session: nox.Session) -> None:
    """Load test the release with Locust, check perf/slo.yaml, write reports/perf/<ts>/."""
    started = time.monotonic()
    env = _phases(session, "perf")
    with _refused_in_one_line(session):
        runs, posargs = repeat.split_args(session.posargs)
    try:
        session.install("-r", "perf/requirements.txt")
        if "--local" in posargs:
            session.install("-e", "./services")
            _toolchain(session, "host", purposes="tests", env=env)
        else:
            from perf import PERF_DEFAULTS, in_cluster_refusal, workers_wanted

            settings = _settings(session, "PERF", posargs, PERF_DEFAULTS)
            with _refused_in_one_line(session):
                workers = workers_wanted(posargs, dict(os.environ))
            refusal = in_cluster_refusal(settings, workers)
            if refusal:  # before any image is built
                session.error(refusal)
            env = _prepare_cluster_run(session, settings, env)
            if workers > 0:
                # Locust inside the cluster: its image too, before the run starts.
                session.run("python", "-m", "perf.distributed", "image", env=env)
        if runs == 1:
            session.run("python", "-m", "perf", *posargs, env=env)
            return
        # The same run `runs` times on perf's kept cluster (perf/repeat.py says why).
        from perf import repeat as perf_repeat

        shutil.rmtree(perf_repeat.FOLDER, ignore_errors=True)
        for index in range(1, runs + 1):
            session.log(f"repeat: perf run {index} of {runs}")
            out = perf_repeat.run_folder(index)
            out.mkdir(parents=True)  # a run that stops before writing anything still counts
            session.run("python", "-m", "perf", *posargs, "--out", str(out),
                        success_codes=range(0, 3), env=env)  # fmt: skip
        session.run("python", "-m", "perf.repeat", env=env)
    finally:
        _print_phases(session, started)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def fresh(session: nox.Session) -> None:
    """The README's two commands in a clean Debian container with empty caches (cold);
    `-- --runner github`: the e2e workflow's steps under a hosted runner's conditions."""
    env = _phases(session, "fresh")
    session.install("PyYAML")  # --runner reads the workflow
    session.run("python", "-m", "toolchain.fresh", *session.posargs, env=env)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def image(session: nox.Session) -> None:
    """Build the application image todo-app:dev (and whatever the run's images need)."""
    env = _prepare_cluster_run(session, _settings(session, "E2E", session.posargs), {})
    session.log(f"image ready: {decide.RunChoice.from_json(env[decide.ENV_CHOICE]).images.app}")


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def cluster(session: nox.Session) -> None:
    """Bring up (or reuse) kind cluster todo-e2e with the images and add-ons; keep it."""
    session.install("-r", "harness/requirements.txt")
    env = _prepare_cluster_run(session, _settings(session, "E2E", session.posargs), {})
    session.run("python", "-m", "harness", "cluster", *session.posargs, env=env)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def deploy(session: nox.Session) -> None:
    """helm upgrade --install the release into namespace todo-dev of the kept cluster."""
    session.install("-r", "harness/requirements.txt")
    env = _prepare_cluster_run(session, _settings(session, "E2E", session.posargs), {})
    session.run("python", "-m", "harness", "deploy", *session.posargs, env=env)


@nox.session(python=PYTHON, default=False, tags=["e2e"])
def teardown(session: nox.Session) -> None:
    """Delete the kind cluster todo-e2e (and everything in it)."""
    session.install("-r", "harness/requirements.txt")
    session.run("python", "-m", "harness", "teardown", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["e2e", "perf"])
def report(session: nox.Session) -> None:
    """Rebuild a run's page and summary from its files: reports/ (default) or a perf run's."""
    session.install("-r", "report/requirements.txt")
    session.run("python", "-m", "report", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["airgap"])
def airgap(session: nox.Session) -> None:
    """Build what kind and the suites need without a registry (cached); posargs pick steps."""
    session.install("pytest")
    env = {decide.ENV_SOURCE: "local", **_phases(session, "airgap")}
    _toolchain(session, "host", "docker", purposes="cluster,offline", env=env)
    session.run("python", "-m", "airgap", *session.posargs, env=env)


@nox.session(python=PYTHON, default=False, tags=["bench"])
def bench(session: nox.Session) -> None:
    """Create-task throughput: backend -> MCP -> PostgreSQL vs direct inserts (JSON report)."""
    _toolchain(session, "host", purposes="tests", env={})
    session.install("-e", "./services[test]")
    session.run("python", "services/bench/create_task_throughput.py", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["bench"])
def profile(session: nox.Session) -> None:
    """Where the create-task hop spends its CPU: py-spy profiles of both servers under load."""
    _toolchain(session, "host", purposes="tests", env={})
    session.install("-e", "./services[test]", "py-spy")
    session.run("python", "services/bench/profile_hop.py", *session.posargs)


@nox.session(name="image-metrics", python=PYTHON, default=False, tags=["bench"])
def image_metrics(session: nox.Session) -> None:
    """Size, start -> /health 200 and idle RSS of todo-app:dev (build it first: nox -s image)."""
    session.run("python", "services/bench/image_metrics.py", *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["tests"])
def chart(session: nox.Session) -> None:
    """Chart checks only (lint, template matrix, Kubernetes schemas, bad values); no cluster."""
    session.run("python", "-m", "toolchain", "tools", "--tools", "helm,helm3")
    # ./services too: a test checks the helm test pods import only what the image ships.
    session.install("-r", "chart/tests/requirements.txt", "./services")
    session.run("pytest", "chart/tests", *session.posargs)
