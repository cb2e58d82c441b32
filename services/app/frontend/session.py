"""Sessions in a sealed cookie, and the CSRF token bound to them.

The cookie holds the session as JSON sealed with Fernet (`cryptography`: AES-128-CBC
plus HMAC-SHA256, with the time it was sealed): the browser can neither read the
backend token inside it nor change anything without the key, which comes from a
Kubernetes Secret (SESSION_SECRET). Starlette's own SessionMiddleware only signs its
cookie, so the token would be readable by whoever holds the cookie; this is the same
interface (`request.session`) with the contents encrypted.

A cookie older than SESSION_LIFETIME_SECONDS keeps its CSRF token and loses
everything else: a form posted from an old tab then still passes the CSRF check and
reaches the "sign in again" page with its input kept, instead of a refusal.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

COOKIE_NAME = "todo_session"
CSRF_FIELD = "csrf_token"
# Browsers keep cookies up to 4096 bytes (name and attributes included).
COOKIE_MAX_BYTES = 4000
_CSRF_KEY = "csrf"


class SessionSeal:
    """Seals a session into a cookie value and opens one (tests seal their own, too)."""

    def __init__(self, key: bytes, lifetime_seconds: int) -> None:
        self.fernet = Fernet(key)
        self.lifetime = lifetime_seconds

    def open(self, sealed: str | None) -> dict[str, Any]:
        """The session in a cookie value; {} when it is not one of ours or was tampered with."""
        if not sealed:
            return {}
        try:
            data = self.fernet.decrypt(sealed.encode("ascii"))
            sealed_at = self.fernet.extract_timestamp(sealed.encode("ascii"))
            session = json.loads(data)
        except (InvalidToken, UnicodeEncodeError, ValueError):
            return {}  # not ours, tampered with, or sealed with another key
        if not isinstance(session, dict):
            return {}
        if time.time() - sealed_at > self.lifetime:
            return {_CSRF_KEY: session[_CSRF_KEY]} if _CSRF_KEY in session else {}
        return session

    def seal(self, session: dict[str, Any]) -> str:
        return self.fernet.encrypt(json.dumps(session, separators=(",", ":")).encode()).decode()


class SealedSessionMiddleware:
    """`request.session` read from and written to one sealed cookie, rewritten only when
    the session changed (or dropped when it became empty)."""

    def __init__(
        self, app: ASGIApp, *, key: bytes, lifetime_seconds: int, always_secure: bool
    ) -> None:
        self.app = app
        self.sealer = SessionSeal(key, lifetime_seconds)
        self.always_secure = always_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        scope["session"] = self.sealer.open(connection.cookies.get(COOKIE_NAME))
        before = json.dumps(scope["session"], sort_keys=True)
        secure = self.always_secure or scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if json.dumps(session, sort_keys=True) != before:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", self.cookie(session, secure=secure))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def cookie(self, session: dict[str, Any], *, secure: bool) -> str:
        attributes = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if not session:
            return f"{COOKIE_NAME}=; Max-Age=0; {attributes}"
        value = self.sealer.seal(session)
        if len(value) > COOKIE_MAX_BYTES:
            # Only a kept draft can make it this large: drop it rather than the session.
            log.warning("session too large for a cookie: the kept form input is dropped")
            value = self.sealer.seal({k: v for k, v in session.items() if k != "draft"})
        return f"{COOKIE_NAME}={value}; Max-Age={self.sealer.lifetime}; {attributes}"


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use (the cookie is then rewritten)."""
    token = request.session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF_KEY] = token
    return token


def csrf_valid(request: Request, submitted: object) -> bool:
    """Whether a form's token is this session's (constant-time comparison)."""
    expected = request.session.get(_CSRF_KEY)
    if not isinstance(expected, str) or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogatepass"))
