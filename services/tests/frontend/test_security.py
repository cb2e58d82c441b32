"""Headers, cookie flags, and the backend token kept out of the browser's reach."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from app.frontend.config import FrontendSettings
from app.frontend.main import create_app
from app.frontend.session import COOKIE_NAME
from tests.frontend.conftest import SESSION_SECRET, Visitor, backend_token


def test_every_page_carries_a_strict_policy(visitor: Visitor) -> None:
    for path in ("/signin", "/signup", "/nowhere"):
        headers = visitor.page(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


@pytest.fixture
def failing_front_end() -> Iterator[TestClient]:
    """The front end in this process with one route that fails (no backend is reached)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    app = create_app(FrontendSettings(SESSION_SECRET=SESSION_SECRET))
    root.handlers[:], root.level = handlers, level  # create_app set up the JSON log lines

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("an error no handler expects")

    yield TestClient(app, raise_server_exceptions=False)


def test_the_page_of_an_unexpected_failure_carries_the_headers_too(
    failing_front_end: TestClient,
) -> None:
    answer = failing_front_end.get("/fails")
    assert answer.status_code == 500 and "Something went wrong" in answer.text
    headers = answer.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(member: Visitor) -> None:
    member.add("look at me")
    for path in ("/signin", "/tasks"):
        html = member.page(path).text
        assert "<script>" not in html and "style=" not in html and " on" + "click" not in html
    assert member.page("/static/app.js").status_code == 200
    assert member.page("/static/style.css").headers["content-type"].startswith("text/css")


def test_the_session_cookie_is_http_only_and_same_site(visitor: Visitor) -> None:
    cookie = visitor.page("/signin").headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back


def test_the_cookie_is_secure_behind_tls(visitor: Visitor) -> None:
    # uvicorn takes X-Forwarded-Proto from peers in FORWARDED_ALLOW_IPS (127.0.0.1 here).
    cookie = visitor.http.get("/signin", headers={"X-Forwarded-Proto": "https"}).headers[
        "set-cookie"
    ]
    assert "; Secure" in cookie


def test_the_backend_token_never_reaches_the_browser(member: Visitor, api: httpx.Client) -> None:
    token = backend_token(api, member.username)
    header_part = token.split(".")[0]  # every HS256 token of ours starts with this
    sealed = member.http.cookies[COOKIE_NAME]
    assert header_part not in sealed and "." not in sealed
    page = member.page("/tasks")
    assert header_part not in page.text and "token" not in str(page.url)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {"SESSION_SECRET": "changethis"},
            "configuration error: SESSION_SECRET must be set to a strong",
        ),
        (
            {"SESSION_SECRET": "short-but-not-weak"},
            "configuration error: SESSION_SECRET must be at least 32",
        ),
        (
            {"BACKEND_URL": "backend:8000"},
            "configuration error: BACKEND_URL: must be an http:// or https:// URL",
        ),
        (
            {"BACKEND_URL": "http://:8000"},
            "configuration error: BACKEND_URL: must be an http:// or https:// URL with a host",
        ),
        (
            {"BACKEND_URL": "http://backend:eighty"},
            "configuration error: BACKEND_URL: has an invalid port",
        ),
        (
            {"BACKEND_URL": "http://backend:99999"},
            "configuration error: BACKEND_URL: has an invalid port",
        ),
        ({"PAGE_SIZE": "many"}, "configuration error: PAGE_SIZE: Input should be a valid integer"),
    ],
)
def test_a_bad_setting_stops_start_up_in_one_line(bad: dict[str, str], expected: str) -> None:
    env = {"PATH": os.environ["PATH"], "SESSION_SECRET": "s3cret-" * 8, **bad}
    result = subprocess.run(
        [sys.executable, "-m", "app.serve", "app.frontend.main:app", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1
    assert expected in output
    assert "Traceback" not in output and "s3cret" not in output and "changethis" not in output
