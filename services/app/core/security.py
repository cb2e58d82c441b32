"""Password hashing (stdlib scrypt, no native build deps) and HS256 user tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt

from app.schemas import MAX_ID

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, parameters stored so they can be raised later."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        ["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)]
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@cache
def dummy_hash() -> str:
    """Checked against when the user does not exist, so timing does not reveal usernames."""
    return hash_password(secrets.token_urlsafe(16))


def create_access_token(*, user_id: int, secret: str, expire_minutes: int) -> tuple[str, int]:
    """Return (token, lifetime in seconds)."""
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=expire_minutes)
    claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM), int(lifetime.total_seconds())


class InvalidToken(Exception):
    """The bearer token is malformed, expired, or not signed with our secret."""


def decode_access_token(token: str, *, secret: str) -> int:
    """Return the user id from a valid token, else raise InvalidToken."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
    if not 0 < user_id <= MAX_ID:
        raise InvalidToken("subject is not a user id")
    return user_id


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, dklen=32
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
