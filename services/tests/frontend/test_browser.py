"""The pages in a real browser (the run's Chromium, through pytest-playwright), on loopback:
every action by its role and accessible name, the page's CSP kept on, an accessibility scan
with the pinned axe-core, and no console error."""

from __future__ import annotations

import uuid

import pytest
from harness.local import Server

from app.core.security import create_access_token
from app.frontend.session import COOKIE_NAME
from tests.frontend.conftest import JWT_SECRET, PASSWORD
from tests.frontend.test_session_expiry import SEAL

AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
  .map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' '))})`)"""


@pytest.fixture(scope="module")
def chromium(browser_type_launch_args):
    """The run's browser (pytest-playwright's launch arguments, which the harness's plugin
    points at it), for this module only. pytest-playwright's own `browser` lives for the
    whole session, and its sync API keeps an asyncio loop marked running in the main
    thread meanwhile: every later test that starts a loop (anyio.run) would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**browser_type_launch_args)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh context (cookies, storage) and page per test."""
    context = chromium.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    from toolchain import axe

    return axe.ensure().read_text()


def test_sign_up_add_edit_complete_delete(page, frontend: Server, axe_source: str) -> None:
    from playwright.sync_api import expect

    console: list[str] = []
    page.on("console", lambda m: m.type == "error" and console.append(m.text))
    page.on("pageerror", lambda e: console.append(str(e)))
    username = f"pw_{uuid.uuid4().hex[:8]}"

    page.goto(f"{frontend.url}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Welcome, {username}!")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_label("Title").fill("Buy milk")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("li.task .title")).to_have_text(["Buy milk"])
    page.get_by_role("link", name="Edit Buy milk").click()
    page.get_by_label("Title").fill("Buy oat milk")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Complete Buy oat milk").click()
    expect(page.locator("li.task.done .title")).to_have_text(["Buy oat milk"])

    page.evaluate(axe_source)  # through the DevTools protocol: the page's CSP stays on
    assert page.evaluate("() => typeof axe") == "object"
    violations = page.evaluate(AXE_RUN)
    assert not [v for v in violations if v.startswith(("serious", "critical"))], violations

    page.get_by_role("button", name="Delete Buy oat milk").click()
    expect(page.get_by_text("No tasks yet")).to_be_visible()
    assert console == []


def test_inline_script_is_blocked_by_the_policy(page, frontend: Server) -> None:
    """The CSP is what the browser enforces: a script injected inline does not run."""
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(f"{frontend.url}/signin")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.injected = true'; document.body.append(s); }""")
    assert page.evaluate("() => window.injected === undefined")
    assert any("Content Security Policy" in line for line in console), console


def test_an_expired_session_in_the_browser_keeps_the_input(page, frontend: Server) -> None:
    from playwright.sync_api import expect

    username = f"pw_{uuid.uuid4().hex[:8]}"
    page.goto(f"{frontend.url}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_label("Title").fill("typed before expiry")

    [cookie] = [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]
    session = SEAL.open(cookie["value"])
    session["token"], _ = create_access_token(user_id=1, secret=JWT_SECRET, expire_minutes=-1)
    page.context.add_cookies([{**cookie, "value": SEAL.seal(session)}])

    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_text("Your session has expired.")).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Title")).to_have_value("typed before expiry")
