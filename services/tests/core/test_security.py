"""Password hashing and user tokens."""

from __future__ import annotations

import jwt
import pytest

from app.core.security import (
    InvalidToken,
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)

SECRET = "k" * 64


def test_password_roundtrip() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize("stored", ["", "bcrypt$x", "scrypt$1$2$3$!!$!!", "scrypt$a$b$c$d$e"])
def test_malformed_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_token_roundtrip() -> None:
    token, lifetime = create_access_token(user_id=42, secret=SECRET, expire_minutes=5)
    assert lifetime == 300
    assert decode_access_token(token, secret=SECRET) == 42


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "1", "exp": 1},
        {"sub": "x", "exp": 2**40},
        {"sub": "0", "exp": 2**40},
        {"exp": 2**40},
        {"sub": "1"},
    ],
)
def test_bad_tokens(claims: dict) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(jwt.encode(claims, SECRET, algorithm="HS256"), secret=SECRET)


def test_other_algorithms_refused() -> None:
    token = jwt.encode({"sub": "1", "exp": 2**40}, SECRET, algorithm="HS512")
    with pytest.raises(InvalidToken):
        decode_access_token(token, secret=SECRET)
