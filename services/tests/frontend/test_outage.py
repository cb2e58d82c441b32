"""When the task service is down the pages say so in a banner, and keep what was typed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from harness.local import Server

from tests.frontend.conftest import Visitor, frontend_env

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


class _SignUpOnly(BaseHTTPRequestHandler):
    """A backend that creates accounts and cannot issue tokens (503) right now."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/api/v1/users":
            status, body = 201, b'{"id": 1, "username": "someone"}'
        else:
            status, body = 503, b'{"detail": "database unavailable"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def frontend_whose_sign_in_fails(launch: Callable[..., Server]) -> Iterator[Server]:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _SignUpOnly)
    thread = threading.Thread(target=backend.serve_forever, daemon=True)
    thread.start()
    yield launch("app.frontend.main:app", frontend_env(f"http://127.0.0.1:{backend.server_port}"))
    backend.shutdown()
    backend.server_close()


def test_an_account_made_while_sign_in_fails_sends_to_sign_in_saying_so(
    make_visitor, frontend_whose_sign_in_fails: Server
) -> None:
    visitor: Visitor = make_visitor(frontend_whose_sign_in_fails)
    answer = visitor.sign_up()
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    page = visitor.page("/signin")
    assert page.status_code == 200
    assert "Your account is created, but signing in failed" in page.text
    assert visitor.page("/tasks").headers["location"] == "/signin"  # not signed in
