"""The front end answers every request within REQUEST_TIMEOUT_SECONDS, with a page: 408
while the form is still arriving, 503 when the answer is not ready by then."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from harness.local import Server

from tests.api.test_edge import raw_exchange
from tests.frontend.conftest import Visitor, frontend_env


@pytest.fixture(scope="module")
def silent_backend() -> Iterator[str]:
    """A backend address that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def frontend_with_1s_deadline(launch: Callable[..., Server], silent_backend: str) -> Server:
    # The backend's own timeout (15 s) and the form's (10 s) are far longer.
    return launch(
        "app.frontend.main:app", frontend_env(silent_backend, REQUEST_TIMEOUT_SECONDS="1")
    )


def test_a_stalled_form_is_a_408_page_at_the_deadline(frontend_with_1s_deadline: Server) -> None:
    head = (
        "POST /signin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    received, seconds = raw_exchange(frontend_with_1s_deadline, head, [b"username=some"])
    assert received.startswith(b"HTTP/1.1 408 ")
    headers = received.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" in headers and b"content-type: text/html" in headers
    assert b"content-security-policy:" in headers
    assert b"The form took too long to arrive. Submit it again." in received
    assert 0.9 < seconds < 3


def test_a_page_not_ready_is_a_503_page_at_the_deadline_and_the_server_recovers(
    make_visitor: Callable[..., Visitor], frontend_with_1s_deadline: Server
) -> None:
    visitor = make_visitor(frontend_with_1s_deadline)
    form = visitor.page("/signin").text
    started = time.monotonic()
    answer = visitor.http.post(
        "/signin",
        data={
            "csrf_token": visitor.hidden(form, "csrf_token"),
            "username": "someone",
            "password": "whatever1",
        },
    )
    seconds = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert "took too long to answer" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert 0.9 < seconds < 3
    assert visitor.page("/signin").status_code == 200
    assert httpx.get(f"{frontend_with_1s_deadline.url}/health").status_code == 200
