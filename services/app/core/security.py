"""Password hashing (argon2id, through argon2-cffi) and HS256 user tokens.

Passwords are hashed with argon2id: 19 MiB of memory, 2 iterations, 1 lane. The hash is
memory-hard: each guess at a stolen hash costs an attacker 19 MiB for its whole duration
as well as the time, which is what keeps GPUs and custom hardware from trying guesses by
the thousands in parallel. The server pays the same per sign-in, released at its end and
bounded by running at most a few at once (app/services/users.py). Hashes of earlier
releases (scrypt, N=2^14, r=8) are still verified; `check_password` says when a stored
hash should be replaced, which the sign-in does with the password it has just verified.

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
import secrets
import time
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.schemas import MAX_ID

# Each hash (and each verification) allocates PASSWORD_HASH_MIB of memory, freed at its end.
PASSWORD_HASH_MIB = 19
_HASHER = PasswordHasher(
    time_cost=2, memory_cost=PASSWORD_HASH_MIB * 1024, parallelism=1, hash_len=32, salt_len=16
)
_SCRYPT_PREFIX = "scrypt$"


def hash_password(password: str) -> str:
    """An argon2id hash in the PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$...`)."""
    return _HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    matches: bool
    # A hash to store instead of the checked one, when it matched but was made with an
    # older scheme or weaker parameters than hash_password's.
    upgraded_hash: str | None = None


def check_password(password: str, stored: str) -> PasswordCheck:
    """Verify `password` against a stored argon2id or scrypt hash; never raises for a
    malformed hash (it just does not match)."""
    if stored.startswith(_SCRYPT_PREFIX):
        matches, outdated = _verify_scrypt(password, stored), True
    else:
        try:
            matches = _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return PasswordCheck(matches=False)
        outdated = _HASHER.check_needs_rehash(stored)
    if matches and outdated:
        return PasswordCheck(matches=True, upgraded_hash=hash_password(password))
    return PasswordCheck(matches=matches)


@cache
def dummy_hash() -> str:
    """Checked against when the user does not exist, so timing does not reveal usernames:
    a hash made like every new one, so its check costs what a user's check costs."""
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


def _verify_scrypt(password: str, stored: str) -> bool:
    """`scrypt$n$r$p$salt$hash`, as releases before argon2id stored passwords."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode("utf-8", "surrogatepass"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except ValueError:  # also binascii.Error; hashlib's for out-of-range parameters
        return False
    return hmac.compare_digest(actual, expected)
