"""The harness as a pytest plugin: options from the one table, the release stood up once.

Loaded by the root conftest for every pytest run, so it imports only the
standard library and pytest at module level; the bring-up is imported when a
test asks for it.

Fixtures (session scope unless noted): `harness_settings`, `run_choice` (the
run's decisions, handed down by the noxfile), `environment` (stand_up once,
tear_down at the end), `cluster`, `release`, `kube`, `capabilities`, and
`port_forward` (function scope: a factory of forwards stopped after the test).
Browser tests get `tab` (a page in a fresh context) of `chromium` (the run's
browser, `toolchain.browser`, launched by Playwright once per test module).

Markers: `cluster` (needs the stood-up release), `requires(*needs)` (the
promise needs "metrics", "netpol", "pod-security" or "storage" from the
cluster; where the cluster does not offer it the test is reported as
"not provable on this cluster: <reason>", never passed). On any failure of a
`cluster` test, events, describes, logs and helm state are saved under
`artifacts/<run>/<test>/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS_DIR = ROOT / "artifacts"
NOT_PROVABLE = "not provable on this cluster"

_state: dict[str, Any] = {"environment": None, "failures": []}


def pytest_addoption(parser: pytest.Parser) -> None:
    from harness.settings import add_pytest_options

    group = parser.getgroup("harness", "todo-app release under test (cluster, Helm release)")
    add_pytest_options(group.addoption)


@pytest.fixture(scope="session")
def harness_settings(request: pytest.FixtureRequest):
    from harness.settings import OPTIONS, from_mapping

    given = {o.name: request.config.getoption(o.name) for o in OPTIONS}
    try:
        return from_mapping(given)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def run_choice(harness_settings):
    from toolchain import decide

    return decide.current(**harness_settings.decision_args())


@pytest.fixture(scope="session")
def environment(harness_settings, run_choice) -> Iterator[Any]:
    from harness.stand_up import stand_up, tear_down
    from toolchain.progress import set_label

    set_label("harness")
    env = stand_up(harness_settings, run_choice)
    _state["environment"] = env
    try:
        yield env
    finally:
        tear_down(env)
        _state["teardown"] = {"created": env.created, "deleted": env.deleted}


@pytest.fixture(scope="session")
def cluster(environment):
    return environment.cluster


@pytest.fixture(scope="session")
def capabilities(environment):
    return environment.capabilities


@pytest.fixture(scope="session")
def release(environment):
    return environment.release


@pytest.fixture(scope="session")
def kube(release):
    from harness.kube import Kube

    return Kube(release.kubeconfig, release.namespace, release.name)


@pytest.fixture
def port_forward(release):
    """Factory: `with port_forward("svc/x", 8001) as url:` -> http://127.0.0.1:<port>."""
    from harness.portforward import port_forward as forward

    @contextmanager
    def open_forward(target: str, remote_port: int, ready_path: str | None = "/health"):
        with forward(release.kubeconfig, release.namespace, target, remote_port,
                     ready_path=ready_path) as url:  # fmt: skip
            yield url

    return open_forward


@pytest.fixture(scope="session")
def browser_launch_args() -> dict:
    """Playwright's `chromium.launch()` arguments for the run's browser (decided once)."""
    from toolchain import browser, decide

    chosen = decide.current_browser()
    problem = browser.missing(chosen)
    if problem:
        pytest.fail(f"the run's browser ({chosen}) cannot start: {problem}", pytrace=False)
    return browser.launch_args(chosen)


@pytest.fixture(scope="module")
def chromium(browser_launch_args):
    """The run's browser, for one test module. Playwright's sync API keeps an asyncio loop
    marked running in this thread for as long as it lives: a module's worth, never the
    whole session, so later tests that start a loop of their own (anyio) still can."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(**browser_launch_args)
        yield launched
        launched.close()


@pytest.fixture
def tab(chromium):
    """A page in a fresh context (its own cookies and storage) for one test."""
    context = chromium.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def _requires(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("requires")
    if marker is None:
        return
    caps = request.getfixturevalue("capabilities")
    reasons = [r for need in marker.args if (r := caps.missing(need))]
    if reasons:
        pytest.skip(f"{NOT_PROVABLE}: " + "; ".join(reasons))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    env = _state["environment"]
    if report.failed and env is not None and env.release is not None:
        from harness.artifacts import dump
        from harness.proc import say

        safe = item.name.replace("/", "_").replace("[", "_").replace("]", "")
        target = ARTIFACTS_DIR / env.release.namespace / safe
        try:
            dump(target, env.release.kubeconfig, env.release.namespace, env.namespaces)
            report.sections.append(("artifacts", f"saved under {target}"))
            say(f"{item.name} failed: events, describes and logs saved under {target}")
            _state["failures"].append(str(target))
        except Exception as exc:  # noqa: BLE001 - never hide the test's own failure
            say(f"could not save artifacts for {item.name}: {exc!r}")
    return report


def environment_state() -> dict[str, Any]:
    """The bring-up's facts and the failure artifacts, for a report written at the end."""
    return _state
