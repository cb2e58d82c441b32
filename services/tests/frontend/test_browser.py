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
def axe_source() -> str:
    from toolchain import axe

    return axe.ensure().read_text()


def test_sign_up_add_edit_complete_delete(tab, frontend: Server, axe_source: str) -> None:
    from playwright.sync_api import expect

    console: list[str] = []
    tab.on("console", lambda m: m.type == "error" and console.append(m.text))
    tab.on("pageerror", lambda e: console.append(str(e)))
    username = f"pw_{uuid.uuid4().hex[:8]}"

    tab.goto(f"{frontend.url}/signup")
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password", exact=True).fill(PASSWORD)
    tab.get_by_label("Password again").fill(PASSWORD)
    tab.get_by_role("button", name="Create account").click()
    expect(tab.get_by_text(f"Welcome, {username}!")).to_be_visible()
    tab.get_by_role("button", name="Sign out").click()
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()

    tab.get_by_label("Title").fill("Buy milk")
    tab.get_by_role("button", name="Add task").click()
    expect(tab.locator("li.task .title")).to_have_text(["Buy milk"])
    tab.get_by_role("link", name="Edit Buy milk").click()
    tab.get_by_label("Title").fill("Buy oat milk")
    tab.get_by_role("button", name="Save").click()
    tab.get_by_role("button", name="Complete Buy oat milk").click()
    expect(tab.locator("li.task.done .title")).to_have_text(["Buy oat milk"])

    tab.evaluate(axe_source)  # through the DevTools protocol: the page's CSP stays on
    assert tab.evaluate("() => typeof axe") == "object"
    violations = tab.evaluate(AXE_RUN)
    assert not [v for v in violations if v.startswith(("serious", "critical"))], violations

    tab.get_by_role("button", name="Delete Buy oat milk").click()
    expect(tab.get_by_text("No tasks yet")).to_be_visible()
    assert console == []


def test_inline_script_is_blocked_by_the_policy(tab, frontend: Server) -> None:
    """The CSP is what the browser enforces: a script injected inline does not run."""
    console: list[str] = []
    tab.on("console", lambda m: console.append(m.text))
    tab.goto(f"{frontend.url}/signin")
    tab.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.injected = true'; document.body.append(s); }""")
    assert tab.evaluate("() => window.injected === undefined")
    assert any("Content Security Policy" in line for line in console), console


def test_an_expired_session_in_the_browser_keeps_the_input(tab, frontend: Server) -> None:
    from playwright.sync_api import expect

    username = f"pw_{uuid.uuid4().hex[:8]}"
    tab.goto(f"{frontend.url}/signup")
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password", exact=True).fill(PASSWORD)
    tab.get_by_label("Password again").fill(PASSWORD)
    tab.get_by_role("button", name="Create account").click()
    tab.get_by_label("Title").fill("typed before expiry")

    [cookie] = [c for c in tab.context.cookies() if c["name"] == COOKIE_NAME]
    session = SEAL.open(cookie["value"])
    session["token"], _ = create_access_token(user_id=1, secret=JWT_SECRET, expire_minutes=-1)
    tab.context.add_cookies([{**cookie, "value": SEAL.seal(session)}])

    tab.get_by_role("button", name="Add task").click()
    expect(tab.get_by_text("Your session has expired.")).to_be_visible()
    expect(tab.get_by_label("Username")).to_have_value(username)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_label("Title")).to_have_value("typed before expiry")
