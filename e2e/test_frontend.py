"""Promise 13: the web front end works in a real browser.

Headless Chromium (the run's browser: Debian's offline, Playwright's own with
internet), driven by Playwright through the front end's kind port, does what a
person does: sign up, sign out and in, add, edit, complete and delete a task.
Each step is checked on the page and in the stored data, read from the MCP
server that owns the tasks. Then what a person meets when things go wrong: an
expired session (a cookie whose backend token has expired) goes back to
sign-in with the input kept, and the task service stopped (MCP server scaled
to zero) shows a banner, keeps the input, and the same form adds the task once
the service is back. No console error anywhere else; axe-core finds no
serious or critical accessibility violation on any page visited; every page's
navigation timing is recorded. Screenshots go to reports/frontend/, the
figures to the results under `frontend`.

Runs before the disruptive promises (see PROMISES in conftest.py): it needs
the release healthy, and restores the MCP server itself.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from e2e.conftest import REPORTS_DIR
from harness.kube import wait_for
from harness.proc import wait_http

pytestmark = pytest.mark.promise(13)

SHOTS = REPORTS_DIR / "frontend"
BANNER = "The task service is not available right now."
# The only console errors a page may show: the browser's own line for a document that
# was answered with the status the design asks for (503 while the task service is down).
EXPECTED_CONSOLE = re.compile(r"Failed to load resource: .* status of 503")
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')),
  }));
}"""
NAVIGATION = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {response_ms: n.responseEnd - n.startTime, dom_interactive_ms: n.domInteractive,
          load_ms: n.loadEventEnd, redirects: n.redirectCount, bytes: n.transferSize};
}"""
RECORD: dict[str, Any] = {"steps": [], "navigation": {}, "axe": {}, "console_errors": []}
NAVIGATION_SAMPLES: dict[str, list[dict[str, float]]] = {}


class Journey:
    """One browser page, and what each step of it recorded."""

    def __init__(self, page, base: str, axe_source: str, results) -> None:
        self.page, self.base, self.axe_source, self.results = page, base, axe_source, results
        self.console: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console.append(m.text))
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}"))
        SHOTS.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def step(self, name: str, *, console_allowed: re.Pattern | None = None) -> Iterator[None]:
        """Time the step, then screenshot the page it ended on, its navigation timing and
        an accessibility scan of it; console errors are kept for the final check."""
        from playwright.sync_api import expect

        start, seen = time.monotonic(), len(self.console)
        yield
        seconds = round(time.monotonic() - start, 2)
        self.page.wait_for_load_state("load")
        expect(self.page.locator("main")).to_be_visible()
        shot = SHOTS / f"{len(RECORD['steps']) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        path = self.page.url.removeprefix(self.base).split("?")[0]
        page_name = re.sub(r"/\d+/", "/{id}/", path) or "/"
        samples = NAVIGATION_SAMPLES.setdefault(page_name, [])
        samples.append(self.page.evaluate(NAVIGATION))
        RECORD["navigation"][page_name] = {  # the median of this page's loads, per figure
            key: round(statistics.median(s[key] for s in samples), 1) for key in samples[0]
        }
        RECORD["navigation"][page_name]["loads"] = len(samples)
        self.scan(name)
        errors = [
            e for e in self.console[seen:] if not (console_allowed and console_allowed.search(e))
        ]
        RECORD["console_errors"] += [{"step": name, "error": e} for e in errors]
        RECORD["steps"].append(
            {
                "name": name,
                "seconds": seconds,
                "page": page_name,
                "screenshot": str(shot.relative_to(REPORTS_DIR)),
            }
        )
        self.results.put("frontend", RECORD)

    def scan(self, name: str) -> None:
        if not self.page.evaluate("() => typeof axe !== 'undefined'"):
            # Through the DevTools protocol: the page's own CSP (script-src 'self') stays on.
            self.page.evaluate(self.axe_source)
        for violation in self.page.evaluate(AXE_RUN):
            impact = violation["impact"] or "unknown"
            RECORD["axe"].setdefault(impact, []).append({"step": name, **violation})

    def goto(self, path: str):
        return self.page.goto(f"{self.base}{path}")


def backend_token(api: httpx.Client, username: str, password: str) -> str:
    answer = api.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def user_id_of(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


class Store:
    """The user's tasks as the MCP server stores them (its REST API, the service token)."""

    def __init__(self, mcp_url: str, service_token: str, user_id: int) -> None:
        self.http = httpx.Client(
            base_url=mcp_url,
            timeout=10,
            headers={"Authorization": f"Bearer {service_token}", "X-User-ID": str(user_id)},
        )

    def tasks(self) -> list[dict[str, Any]]:
        answer = self.http.get("/tasks", params={"limit": 100})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]


@pytest.fixture(scope="module")
def axe_source() -> str:
    from toolchain import axe

    return axe.ensure().read_text()


@pytest.fixture(scope="module")
def frontend_url(release, results) -> str:
    url = release.frontend_url
    RECORD["url"] = url
    RECORD["ready_s"] = round(wait_http(f"{url}/ready", timeout=120), 2)
    from toolchain import decide

    RECORD["browser"] = decide.current_browser()
    return url


@pytest.fixture
def journey(tab, frontend_url, axe_source, results) -> Journey:
    return Journey(tab, frontend_url, axe_source, results)


def sign_up(j: Journey) -> tuple[str, str]:
    from playwright.sync_api import expect

    username, password = f"web-{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
    with j.step("sign-up-form"):
        j.goto("/signup")
        expect(j.page.get_by_role("heading", name="Sign up")).to_be_visible()
    with j.step("signed-up"):
        j.page.get_by_label("Username").fill(username)
        j.page.get_by_label("Password", exact=True).fill(password)
        j.page.get_by_label("Password again").fill(password)
        j.page.get_by_role("button", name="Create account").click()
        expect(j.page.get_by_text(f"Welcome, {username}!")).to_be_visible()
    return username, password


def sign_in(j: Journey, username: str, password: str, step: str = "signed-in") -> None:
    from playwright.sync_api import expect

    with j.step(step):
        j.page.get_by_label("Username").fill(username)
        j.page.get_by_label("Password").fill(password)
        j.page.get_by_role("button", name="Sign in").click()
        expect(j.page.get_by_role("heading", name="Your tasks")).to_be_visible()


def test_a_users_journey_in_a_real_browser(
    journey: Journey, api, release, port_forward, service_token
) -> None:
    from playwright.sync_api import expect

    j, page = journey, journey.page
    username, password = sign_up(j)
    with j.step("signed-out"):
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You are signed out.")).to_be_visible()
    sign_in(j, username, password)
    user_id = user_id_of(backend_token(api, username, password))

    with port_forward(f"svc/{release.fullname}-mcp-server", 8001) as mcp_url:
        store = Store(mcp_url, service_token, user_id)
        assert store.tasks() == []
        with j.step("added"):
            page.get_by_label("Title").fill("Buy milk")
            page.get_by_label("Description (optional)").fill("two litres")
            page.get_by_role("button", name="Add task").click()
            expect(page.get_by_text("Added “Buy milk”.")).to_be_visible()
            expect(page.locator("li.task .title")).to_have_text(["Buy milk"])
        [task] = store.tasks()
        assert (task["title"], task["description"], task["completed"]) == (
            "Buy milk",
            "two litres",
            False,
        )

        with j.step("edit-form"):
            page.get_by_role("link", name="Edit Buy milk").click()
            expect(page.get_by_label("Title")).to_have_value("Buy milk")
        with j.step("edited"):
            page.get_by_label("Title").fill("Buy oat milk")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_text("Saved “Buy oat milk”.")).to_be_visible()
        [task] = store.tasks()
        assert task["title"] == "Buy oat milk"

        with j.step("completed"):
            page.get_by_role("button", name="Complete Buy oat milk").click()
            expect(page.locator("li.task.done .title")).to_have_text(["Buy oat milk"])
        assert store.tasks()[0]["completed"] is True

        with j.step("deleted"):
            page.get_by_role("button", name="Delete Buy oat milk").click()
            expect(page.get_by_text("Deleted “Buy oat milk”.")).to_be_visible()
            expect(page.get_by_text("No tasks yet")).to_be_visible()
        assert store.tasks() == []


def test_an_expired_session_returns_to_sign_in_with_the_input_kept(
    journey: Journey, kube, release, api
) -> None:
    """The session cookie is the front end's own, sealed with its key: the test seals one
    whose backend token expired a minute ago, as a session left open past JWT_EXPIRE_MINUTES."""
    from app.core.security import create_access_token
    from app.frontend.config import FrontendSettings
    from app.frontend.session import COOKIE_NAME, SessionSeal
    from playwright.sync_api import expect

    j, page = journey, journey.page
    username, password = sign_up(j)
    page.get_by_label("Title").fill("Typed before the session expired")
    page.get_by_label("Description (optional)").fill("every word of it")

    session_secret = kube.secret_value(f"{release.fullname}-frontend", "SESSION_SECRET")
    jwt_secret = kube.secret_value(f"{release.fullname}-auth", "JWT_SECRET")
    seal = SessionSeal(FrontendSettings(SESSION_SECRET=session_secret).session_key, 3600)
    [cookie] = [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]
    session = seal.open(cookie["value"])
    assert session.get("token"), "the sealed cookie did not open with the release's key"
    user_id = user_id_of(session["token"])
    session["token"], _ = create_access_token(user_id=user_id, secret=jwt_secret, expire_minutes=-1)
    page.context.add_cookies([{**cookie, "value": seal.seal(session)}])

    with j.step("session-expired"):
        page.get_by_role("button", name="Add task").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_text("Your session has expired.")).to_be_visible()
        expect(page.get_by_label("Username")).to_have_value(username)
    sign_in(j, username, password, step="input-kept")
    expect(page.get_by_label("Title")).to_have_value("Typed before the session expired")
    expect(page.get_by_label("Description (optional)")).to_have_value("every word of it")
    with j.step("added-after-sign-in"):
        page.get_by_role("button", name="Add task").click()
        expect(page.locator("li.task .title")).to_have_text(["Typed before the session expired"])
    token = backend_token(api, username, password)
    stored = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).json()
    assert [t["title"] for t in stored["items"]] == ["Typed before the session expired"]


def test_the_task_service_stopped_shows_a_banner_and_loses_nothing(
    journey: Journey, kube, api
) -> None:
    from playwright.sync_api import expect

    j, page = journey, journey.page
    username, password = sign_up(j)
    headers = {"Authorization": f"Bearer {backend_token(api, username, password)}"}
    mcp = kube.deployment("mcp-server")
    replicas = mcp.spec.replicas
    kube.apps.patch_namespaced_deployment_scale(
        mcp.metadata.name, kube.namespace, {"spec": {"replicas": 0}}
    )
    try:
        wait_for(lambda: not kube.all_pods("mcp-server"), timeout=90, what="MCP pods gone")
        with j.step("task-service-down", console_allowed=EXPECTED_CONSOLE):
            answer = j.goto("/tasks")
            assert answer is not None and answer.status == 503
            expect(page.get_by_role("alert")).to_contain_text(BANNER)
            expect(page.get_by_text("Your tasks cannot be shown right now.")).to_be_visible()
        with j.step("add-while-down", console_allowed=EXPECTED_CONSOLE):
            page.get_by_label("Title").fill("Added once the service is back")
            page.get_by_role("button", name="Add task").click()
            expect(page.get_by_role("alert")).to_contain_text(BANNER)
            expect(page.get_by_label("Title")).to_have_value("Added once the service is back")
    finally:
        kube.apps.patch_namespaced_deployment_scale(
            mcp.metadata.name, kube.namespace, {"spec": {"replicas": max(1, replicas)}}
        )
        kube.wait_deployment_available("mcp-server", timeout=120)
        wait_for(
            lambda: api.get("/api/v1/tasks", headers=headers).status_code == 200,
            timeout=90,
            interval=0.5,
            what="the task API to answer 200 again",
        )
    form = page.locator("form.add")
    sent = {
        name: form.locator(f"[name={name}]").input_value()
        for name in ("csrf_token", "idempotency_key", "title", "description", "status")
    }
    with j.step("added-after-recovery"):
        page.get_by_role("button", name="Add task").click()  # the same form, the same key
        expect(page.locator("li.task .title")).to_have_text(["Added once the service is back"])
    # The browser sending that very form again (a retry, a second click): still one task.
    again = page.request.post(f"{j.base}/tasks", form=sent, max_redirects=0)
    assert again.status == 303, again.status
    stored = api.get("/api/v1/tasks", headers=headers).json()
    assert [t["title"] for t in stored["items"]] == ["Added once the service is back"]


def test_no_console_errors_and_no_serious_accessibility_violations(results) -> None:
    """Last in this promise: the verdict over every page the journeys above visited."""
    assert RECORD["steps"], "no browser step ran"
    RECORD["axe_summary"] = {impact: len(found) for impact, found in RECORD["axe"].items()}
    results.put("frontend", RECORD)
    assert not RECORD["console_errors"], RECORD["console_errors"]
    serious = [v for impact in ("serious", "critical") for v in RECORD["axe"].get(impact, [])]
    assert not serious, "axe-core found serious or critical violations:\n" + "\n".join(
        f"- {v['impact']} {v['id']} on {v['step']}: {v['help']} ({', '.join(v['nodes'][:3])})"
        for v in serious
    )
