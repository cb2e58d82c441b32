"""Password hashing (stdlib scrypt, no native build deps) and HS256 user tokens.

Tokens are JWTs (RFC 7519) signed with HMAC-SHA256, made and checked with the
standard library: PyJWT would import `cryptography` on the way, ~8 MiB of
resident memory in a backend that needs nothing but HMAC. Tokens stay
interchangeable with PyJWT's (tests check both directions).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from functools import cache

from app.schemas import MAX_ID

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


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
    now = int(time.time())
    lifetime = expire_minutes * 60
    claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime}
    signing_input = f"{_HEADER}.{_b64url(_json(claims))}"
    return f"{signing_input}.{_b64url(_sign(secret, signing_input))}", lifetime


class InvalidToken(Exception):
    """The bearer token is malformed, expired, or not signed with our secret."""


def decode_access_token(token: str, *, secret: str) -> int:
    """Return the user id from a valid token, else raise InvalidToken."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        signing_input = f"{header_part}.{claims_part}"
        # The signature is checked before anything of the token is parsed.
        if not hmac.compare_digest(_sign(secret, signing_input), _b64url_decode(signature_part)):
            raise InvalidToken("signature verification failed")
        header = json.loads(_b64url_decode(header_part))
        claims = json.loads(_b64url_decode(claims_part))
    except ValueError as exc:  # also binascii.Error, UnicodeError and JSONDecodeError
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256" or "crit" in header:
        raise InvalidToken("not an HS256 token")
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not a JSON object")
    now = time.time()
    exp, nbf, iat = claims.get("exp"), claims.get("nbf", 0), claims.get("iat", 0)
    if not all(_is_number(value) for value in (exp, nbf, iat)):
        raise InvalidToken("exp, nbf and iat must be numbers (exp is required)")
    if exp <= now:
        raise InvalidToken("token expired")
    if nbf > now or iat > now:
        raise InvalidToken("token not valid yet")
    sub = claims.get("sub")
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
        raise InvalidToken("subject is not a user id")
    user_id = int(sub)
    if not 0 < user_id <= MAX_ID:
        raise InvalidToken("subject is not a user id")
    return user_id


def _sign(secret: str, signing_input: str) -> bytes:
    return hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()


def _json(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict: characters outside the URL-safe alphabet are an error, not skipped."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_HEADER = _b64url(_json({"alg": "HS256", "typ": "JWT"}))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, dklen=32
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
