"""When the task service is down the pages say so in a banner, and keep what was typed."""

from __future__ import annotations

from harness.local import Server

from tests.frontend.conftest import Visitor

BANNER = "The task service is not available right now."


def test_the_list_shows_a_banner_with_503(make_visitor, frontend_without_tasks: Server) -> None:
    visitor: Visitor = make_visitor(frontend_without_tasks)
    assert visitor.sign_up().status_code == 303  # users live in the backend: still works
    page = visitor.page("/tasks")
    assert page.status_code == 503
    assert f'<div class="banner" role="alert">{BANNER}' in page.text
    assert "Your tasks cannot be shown right now." in page.text


def test_an_add_during_the_outage_keeps_the_input_and_the_key(
    make_visitor, frontend_without_tasks: Server
) -> None:
    visitor: Visitor = make_visitor(frontend_without_tasks)
    visitor.sign_up()
    html = visitor.page("/tasks").text
    key = visitor.hidden(html, "idempotency_key")
    answer = visitor.http.post(
        "/tasks",
        data={
            "csrf_token": visitor.hidden(html, "csrf_token"),
            "idempotency_key": key,
            "title": "kept for later",
        },
    )
    assert answer.status_code == 503
    assert BANNER in answer.text
    assert 'value="kept for later"' in answer.text
    assert visitor.hidden(answer.text, "idempotency_key") == key  # resubmitting cannot double it


def test_a_backend_that_cannot_be_reached_is_a_banner_too(launch, make_visitor) -> None:
    from tests.frontend.conftest import frontend_env

    stranded = launch("app.frontend.main:app", frontend_env("http://127.0.0.1:9"))
    visitor: Visitor = make_visitor(stranded)
    html = visitor.page("/signin").text
    answer = visitor.http.post(
        "/signin",
        data={
            "csrf_token": visitor.hidden(html, "csrf_token"),
            "username": "someone",
            "password": "whatever1",
        },
    )
    assert answer.status_code == 503
    assert BANNER in answer.text
    ready = visitor.http.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
