"""A session whose backend token is no longer accepted sends the user to sign in, with what
they typed kept and given back once they are in again."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from cryptography.fernet import Fernet

from app.core.security import create_access_token
from app.frontend.config import FrontendSettings
from app.frontend.session import COOKIE_NAME, SessionSeal
from tests.frontend.conftest import JWT_SECRET, PASSWORD, SESSION_SECRET, Visitor, stored_tasks

KEY = FrontendSettings(SESSION_SECRET=SESSION_SECRET).session_key
SEAL = SessionSeal(KEY, 12 * 3600)


def expire_token(visitor: Visitor, user_id: int = 1) -> None:
    """Put an expired backend token (signed with the backend's key) into the visitor's session."""
    session = SEAL.open(visitor.http.cookies[COOKIE_NAME])
    assert session["token"]
    session["token"], _ = create_access_token(user_id=user_id, secret=JWT_SECRET, expire_minutes=-1)
    visitor.http.cookies.set(COOKIE_NAME, SEAL.seal(session), domain="127.0.0.1")


def test_the_add_form_typed_into_survives_sign_in(member: Visitor, api: httpx.Client) -> None:
    html = member.page("/tasks").text
    form = {
        "csrf_token": member.hidden(html, "csrf_token"),
        "idempotency_key": member.hidden(html, "idempotency_key"),
        "title": "written before expiry",
        "description": "every word kept",
    }
    expire_token(member)
    answer = member.http.post("/tasks", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    signin = member.page("/signin").text
    assert "Your session has expired. Sign in again: what you typed is kept." in signin
    assert f'value="{member.username}"' in signin
    assert stored_tasks(api, member.username) == []

    back = member.submit("/signin", "/signin", username=member.username, password=PASSWORD)
    assert back.headers["location"] == "/tasks"
    page = member.page("/tasks").text
    assert 'value="written before expiry"' in page and "every word kept" in page
    assert member.hidden(page, "idempotency_key") == form["idempotency_key"]
    assert member.add("written before expiry").status_code == 303
    assert [t["title"] for t in stored_tasks(api, member.username)] == ["written before expiry"]


def test_an_edit_typed_into_survives_sign_in(member: Visitor, api: httpx.Client) -> None:
    member.add("before")
    [task] = stored_tasks(api, member.username)
    form_path = f"/tasks/{task['id']}/edit"
    token = member.hidden(member.page(form_path).text, "csrf_token")
    expire_token(member)
    answer = member.http.post(form_path, data={"csrf_token": token, "title": "after"})
    assert answer.headers["location"] == "/signin"
    back = member.submit("/signin", "/signin", username=member.username, password=PASSWORD)
    assert back.headers["location"] == form_path
    assert 'value="after"' in member.page(form_path).text
    assert stored_tasks(api, member.username)[0]["title"] == "before"


def test_the_list_itself_sends_to_sign_in(member: Visitor) -> None:
    expire_token(member)
    answer = member.page("/tasks?page=1&status=open")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    back = member.submit("/signin", "/signin", username=member.username, password=PASSWORD)
    assert back.headers["location"] == "/tasks?status=open"


def test_someone_else_signing_in_gets_neither_the_input_nor_the_return_address(
    member: Visitor, make_visitor
) -> None:
    other = make_visitor()
    assert other.sign_up().status_code == 303  # someone with an account of their own
    html = member.page("/tasks").text
    form = {
        "csrf_token": member.hidden(html, "csrf_token"),
        "idempotency_key": member.hidden(html, "idempotency_key"),
        "status": "open",
        "title": "the first user's words",
    }
    expire_token(member)
    assert member.http.post("/tasks", data=form).headers["location"] == "/signin"
    # The first user walks away; the other signs in on the same browser.
    back = member.submit("/signin", "/signin", username=other.username, password=PASSWORD)
    assert back.headers["location"] == "/tasks"
    page = member.page("/tasks").text
    assert f"Signed in as <strong>{other.username}</strong>" in page
    assert "the first user&#39;s words" not in page and "the first user's words" not in page


def test_a_signed_in_cookie_changed_by_one_bit_is_an_empty_session(member: Visitor) -> None:
    assert member.page("/tasks").status_code == 200
    sealed = member.http.cookies[COOKIE_NAME]
    assert member.page("/tasks").status_code == 200  # this cookie is a signed-in session
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[-1] ^= 1  # the authentication tag: the encrypted session itself is intact
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    # A check that let it through would open the same signed-in session.
    member.http.cookies.set(COOKIE_NAME, tampered, domain="127.0.0.1")
    assert member.page("/tasks").headers.get("location") == "/signin"
    assert member.page("/signin").status_code == 200  # the form, not "already signed in"
    assert SEAL.open(tampered) == {}


@pytest.mark.parametrize(
    "cookie",
    [
        "not-a-sealed-session",
        SessionSeal(Fernet.generate_key(), 3600).seal({"token": "t", "user": "u"}),
    ],
    ids=["garbage", "another-key"],
)
def test_a_cookie_that_is_not_ours_is_an_empty_session(visitor: Visitor, cookie: str) -> None:
    assert SEAL.open(cookie) == {}
    visitor.http.cookies.set(COOKIE_NAME, cookie, domain="127.0.0.1")
    assert visitor.page("/tasks").headers["location"] == "/signin"


def test_a_cookie_past_its_lifetime_keeps_only_its_csrf_token() -> None:
    short = SessionSeal(KEY, 60)
    sealed = short.fernet.encrypt_at_time(
        b'{"csrf":"c","token":"t","user":"u"}', int(time.time()) - 61
    )
    assert short.open(sealed.decode()) == {"csrf": "c"}
    assert short.open(short.seal({"csrf": "c", "token": "t"})) == {"csrf": "c", "token": "t"}
