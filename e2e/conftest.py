"""The promises of the deployment, proven in order against the release the harness stood up.

The harness's pytest plugin (loaded by the root conftest) stands the release
up once and provides `environment`, `cluster`, `release`, `kube`,
`capabilities` and `port_forward`. This file adds what the promises share:
the promise numbers and their order, the results the report is made of,
HTTP clients and users, and the one Locust load run of the HPA and resource
promises. Each promise test's outcome, duration, failure message and saved
artifacts are recorded as it ends; the report (`reports/index.html`,
`reports/e2e-summary.md`) is written at the end, also when the run fails or is
interrupted.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parents[1]
REPORTS_DIR = ROOT / "reports"
RUN_ID = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")

# The promises, in the order the suite proves them (this dict's order, not their numbers:
# a promise added later takes the next number and its place among the others).
PROMISES = {
    0: "cluster: nodes, DNS, Services, privileged pods, credentials work offline",
    1: "install: one command, every workload Available, no restarts",
    2: "startup: each pod created -> Ready under 30 s",
    3: "health: /health and /ready 200 through the Services",
    4: "backend -> MCP: stored by MCP (REST + protocol), request id in both logs",
    5: "resources: kubectl top works; usage under limits idle and under load; specs as asked",
    6: "HPA: MCP server scales from its minimum to its maximum under Locust load and back",
    # Needs the release healthy (it stops and restores the MCP server itself): before 7.
    13: "web front end: a user's journey in a real browser, expired session, outage banner, "
    "no console errors, no serious accessibility violation",
    7: "rollback and switches: broken upgrade rolled back; MCP off/on keeps data",
    8: "faults: MCP pod kill loses no acknowledged write; PostgreSQL restart keeps data",
    9: "security: PSS restricted, NetworkPolicy enforced, bad credentials refused",
    10: "helm test passes",
    11: "node drain: PDBs respected, no acknowledged write lost (multi-node)",
    12: "upgrade: an earlier revision upgraded, rolled back and switched to production under load",
}

_STATE: dict[str, Any] = {"outcomes": {}, "tests": {}}


# --- collection and markers ----------------------------------------------------------


def _promise_of(item: pytest.Item) -> int:
    marker = item.get_closest_marker("promise")
    return int(marker.args[0]) if marker else 99


def _proving_order(item: pytest.Item) -> int:
    """The promise's place in PROMISES (unknown numbers last)."""
    return list(PROMISES).index(n) if (n := _promise_of(item)) in PROMISES else len(PROMISES)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Prove the promises in order (install first, disruptive ones last); mark them."""
    here = Path(__file__).parent
    e2e_items = [i for i in items if Path(str(i.path)).parent == here]
    if not e2e_items:
        return
    others = [i for i in items if i not in e2e_items]
    e2e_items.sort(key=_proving_order)  # stable: file order within a promise
    items[:] = others + e2e_items
    for item in e2e_items:
        item.add_marker(pytest.mark.cluster)


# --- results shared with the report ---------------------------------------------------


@dataclass
class Results:
    """What the tests measured; written to reports/e2e-results.json for the report."""

    run_id: str = RUN_ID
    data: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def append(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)
        self.save()

    def save(self) -> None:
        REPORTS_DIR.mkdir(parents=True, exist_ok=True)
        payload = {"run_id": self.run_id, "promises": PROMISES, **self.data,
                   "outcomes": _STATE["outcomes"], "tests": _STATE["tests"]}  # fmt: skip
        (REPORTS_DIR / "e2e-results.json").write_text(json.dumps(payload, indent=2, default=str))


RESULTS = Results()
# Loaded while pytest collects, before any bring-up: the report tells these results from an
# earlier run's by this time.
RESULTS.data["session_started"] = time.time()


@pytest.fixture(scope="session")
def results() -> Results:
    return RESULTS


@pytest.fixture(scope="session")
def release(environment, results: Results):
    """The harness's release, with the facts of its bring-up recorded for the report."""
    from harness.stand_up import summary

    results.put("bring_up", summary(environment))
    return environment.release


# --- clients --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api(release) -> Iterator[httpx.Client]:
    """HTTP client for the backend as users reach it (the harness's NodePort or forward)."""
    import httpx

    # One connection per request: the tests roll the backend (upgrades, rollback), and a
    # kept-alive connection to a pod that has gone away would fail the next request.
    with httpx.Client(
        base_url=release.backend_url, timeout=15, headers={"Connection": "close"}
    ) as client:
        yield client


@dataclass
class User:
    id: int
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register_user(client: httpx.Client, prefix: str = "e2e") -> User:
    username = f"{prefix}-{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(16)
    created = client.post("/api/v1/users", json={"username": username, "password": password})
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert token.status_code == 200, token.text
    return User(created.json()["id"], username, password, token.json()["access_token"])


@pytest.fixture(scope="session")
def new_user(api: httpx.Client) -> Callable[[], User]:
    return lambda: register_user(api)


@pytest.fixture(scope="session")
def user(new_user) -> User:
    return new_user()


@pytest.fixture(scope="session")
def service_token(release, kube) -> str:
    """The backend -> MCP service credential, read from the release's auth Secret."""
    return kube.secret_value(f"{release.fullname}-auth", "MCP_SERVICE_TOKEN")


# --- the shared load run (promises 5 and 6) -------------------------------------------


@pytest.fixture(scope="session")
def load_run(release, kube, capabilities, results: Results):
    """One Locust run against the backend with a sampler; used by the HPA and resource tests.

    Without a metrics API the load proves nothing (no HPA, no usage figures): every test
    that needs it is reported not provable, and no load is run. (Being session-scoped,
    this fixture is set up before any test's own `requires` check could skip it.)"""
    from e2e.load import run_hpa_load
    from harness.pytest_plugin import NOT_PROVABLE
    from toolchain.progress import step

    missing = capabilities.missing("metrics")
    if missing:
        pytest.skip(f"{NOT_PROVABLE}: {missing}")

    with step("load run (Locust)"):
        timeline = run_hpa_load(release, kube, REPORTS_DIR / "locust")
    results.put("hpa", timeline.summary())
    results.put("hpa_samples", timeline.samples)
    return timeline


# --- outcomes and the report ----------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """How long the release's bring-up took inside the first test's setup: a phase of the
    run's own, not part of that test's time."""
    if fixturedef.argname != "environment":
        return (yield)
    started = time.monotonic()
    try:
        return (yield)
    finally:
        _STATE["bring_up_seconds"] = time.monotonic() - started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if item.get_closest_marker("promise") is None:
        return report
    record = _STATE["tests"].setdefault(item.nodeid, {
        "promise": str(_promise_of(item)), "name": item.name, "outcome": "running",
        "seconds": 0.0, "started": report.start, "stopped": report.stop,
    })  # fmt: skip
    own = report.duration
    if report.when == "setup" and "bring_up_seconds" in _STATE:
        own = max(0.0, own - _STATE.pop("bring_up_seconds"))
    record["seconds"] = round(record["seconds"] + own, 2)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            outcome = "passed"
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report)
            outcome = reason.removeprefix("Skipped: ")
        else:
            outcome = "failed"
        _STATE["outcomes"].setdefault(str(_promise_of(item)), {})[item.name] = outcome
        # The timeline shows the test's own work (a setup's bring-up is a phase of its own).
        record.update(outcome=outcome, started=report.start, stopped=report.stop)
    if report.failed:
        if record["outcome"] != "failed":  # a teardown that failed after a passed test
            record["outcome"] = "failed"
            _STATE["outcomes"].setdefault(str(_promise_of(item)), {})[item.name] = "failed"
        crash = getattr(report.longrepr, "reprcrash", None)
        record["message"] = (crash.message if crash else str(report.longrepr))[-4000:]
        record["where"] = f"{crash.path}:{crash.lineno}" if crash else ""
    RESULTS.save()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The folder of what the harness saved for a failure (known once its plugin has added
    it to the report's sections)."""
    record = _STATE["tests"].get(report.nodeid)
    for name, text in report.sections if record is not None else ():
        if name == "artifacts" and text.startswith("saved under "):
            saved = Path(text.removeprefix("saved under "))
            record["artifacts"] = str(saved.relative_to(ROOT) if saved.is_relative_to(ROOT)
                                      else saved)  # fmt: skip
            RESULTS.save()


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo) -> None:
    """Why pytest stopped early: Ctrl-C, or its own "N errors during collection"."""
    RESULTS.data["stopped_by"] = str(excinfo.value) or excinfo.typename


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the report whatever happened: failed promises, Ctrl-C, a failed bring-up."""
    promises = [i for i in getattr(session, "items", []) if i.get_closest_marker("promise")]
    if not promises or session.config.option.collectonly:
        return  # the unit tests, or a listing: no e2e run to report
    from e2e.report import write
    from harness.proc import say
    from harness.pytest_plugin import environment_state
    from toolchain.progress import step

    state = environment_state()
    if state.get("teardown"):
        RESULTS.data.setdefault("bring_up", {}).update(state["teardown"])
    RESULTS.data["failure_artifacts"] = sorted(set(state["failures"]))
    RESULTS.data["finished"] = {"exit_status": int(exitstatus), "at": time.time()}
    RESULTS.save()
    try:
        with step("report"):
            written = write(REPORTS_DIR)
        say(f"report written: {written.page} ({written.page.stat().st_size // 1024} KiB), "
            f"{written.markdown}")  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the run's verdict stays pytest's
        say(f"could not write the report: {exc!r}")
    if state["failures"]:
        say("failure artifacts: " + ", ".join(sorted(set(state["failures"]))))
