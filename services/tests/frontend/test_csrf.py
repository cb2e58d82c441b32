"""Every form that changes something carries the session's CSRF token, checked here."""

from __future__ import annotations

import httpx
import pytest

from tests.frontend.conftest import PASSWORD, Visitor, stored_tasks


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_this_sessions_token_is_refused_with_a_page(
    member: Visitor, api: httpx.Client, token: str | None
) -> None:
    html = member.page("/tasks").text
    data = {"title": "should not exist", "idempotency_key": member.hidden(html, "idempotency_key")}
    if token is not None:
        data["csrf_token"] = token
    answer = member.http.post("/tasks", data=data)
    assert answer.status_code == 403
    assert "This form has expired" in answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert stored_tasks(api, member.username) == []


def test_another_sessions_token_is_refused(
    member: Visitor, make_visitor, api: httpx.Client
) -> None:
    stranger = make_visitor()
    their_token = stranger.hidden(stranger.page("/signin").text, "csrf_token")
    answer = member.http.post(
        "/tasks", data={"csrf_token": their_token, "title": "x", "idempotency_key": "k-1"}
    )
    assert answer.status_code == 403
    assert stored_tasks(api, member.username) == []


def test_sign_in_without_a_token_is_refused(member: Visitor, make_visitor) -> None:
    fresh = make_visitor()  # no cookie at all: a cross-site form would look like this
    answer = fresh.http.post("/signin", data={"username": member.username, "password": PASSWORD})
    assert answer.status_code == 403
    assert fresh.page("/tasks").headers["location"] == "/signin"  # not signed in


def test_signing_in_gives_a_new_token(member: Visitor) -> None:
    before = member.hidden(member.page("/tasks").text, "csrf_token")
    member.submit("/tasks", "/signout")
    member.submit("/signin", "/signin", username=member.username, password=PASSWORD)
    after = member.hidden(member.page("/tasks").text, "csrf_token")
    assert after != before
    refused = member.http.post("/signout", data={"csrf_token": before})
    assert refused.status_code == 403


def test_an_oversized_form_is_refused_before_it_is_read(member: Visitor) -> None:
    html = member.page("/tasks").text
    data = {"csrf_token": member.hidden(html, "csrf_token"), "title": "x" * 70_000}
    answer = member.http.post("/tasks", data=data)
    assert answer.status_code == 413
    assert "The form is too large" in answer.text


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(
            lambda http, token: http.post(
                "/tasks", data={"csrf_token": token}, files={"upload": ("a.txt", b"a file")}
            ),
            id="a-file",
        ),
        pytest.param(
            lambda http, token: http.post(
                "/tasks", data={"csrf_token": token, **{f"f{n}": "x" for n in range(25)}}
            ),
            id="too-many-fields",
        ),
        pytest.param(
            lambda http, token: http.post(
                "/tasks",
                content=f"csrf_token={token}",
                headers={"Content-Type": "multipart/form-data"},  # no boundary
            ),
            id="broken-multipart",
        ),
    ],
)
def test_a_form_body_that_cannot_be_read_is_refused_with_a_400_page(
    member: Visitor, api: httpx.Client, send
) -> None:
    token = member.hidden(member.page("/tasks").text, "csrf_token")
    answer = send(member.http, token)
    assert answer.status_code == 400
    assert "The form was not accepted" in answer.text and "Page not found" not in answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert stored_tasks(api, member.username) == []
