"""Password hashing and user tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

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


def test_token_verifies_with_pyjwt() -> None:
    token, _ = create_access_token(user_id=7, secret=SECRET, expire_minutes=5)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["exp", "iat"]})
    assert claims["sub"] == "7"
    assert claims["exp"] - claims["iat"] == 300


def test_pyjwt_token_is_accepted() -> None:
    # Pods of the previous release sign with PyJWT: a rolling update must not log users out.
    token = jwt.encode({"sub": "9", "iat": 1, "exp": 2**40}, SECRET, algorithm="HS256")
    assert decode_access_token(token, secret=SECRET) == 9


def _forge(header: dict, claims: dict, signature: bytes | None = None) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    if signature is None:
        signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


VALID = {"sub": "1", "exp": 2**40}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_forge({"alg": "none"}, VALID, b""), id="alg-none-unsigned"),
        pytest.param(_forge({"alg": "none"}, VALID), id="alg-none-signed"),
        pytest.param(_forge({"alg": "HS256", "crit": ["x"]}, VALID), id="crit-header"),
        pytest.param(_forge({"alg": "HS256"}, VALID, b"\0" * 32), id="wrong-signature"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "nbf": 2**40}), id="not-before-future"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "iat": 2**40}), id="issued-in-future"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "exp": "2000000000"}), id="exp-string"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "exp": True}), id="exp-bool"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "sub": 1}), id="sub-number"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "sub": " 1"}), id="sub-space"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "sub": "1_0"}), id="sub-underscore"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "sub": "²"}), id="sub-superscript"),
        pytest.param(_forge({"alg": "HS256"}, {**VALID, "sub": str(2**31)}), id="sub-too-big"),
        pytest.param(_forge(["HS256"], VALID), id="header-not-object"),  # type: ignore[arg-type]
        pytest.param(_forge({"alg": "HS256"}, [VALID]), id="claims-not-object"),  # type: ignore[arg-type]
        pytest.param("a.b", id="two-parts"),
        pytest.param("a.b.c.d", id="four-parts"),
        pytest.param("", id="empty"),
        pytest.param("é.é.é", id="non-ascii"),
    ],
)
def test_forged_or_malformed_tokens_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(token, secret=SECRET)


def test_signature_with_characters_outside_base64url_refused() -> None:
    token, _ = create_access_token(user_id=1, secret=SECRET, expire_minutes=5)
    head, claims, signature = token.split(".")
    # A lenient decoder would skip the "!" and accept the token.
    with pytest.raises(InvalidToken):
        decode_access_token(f"{head}.{claims}.{signature[:10]}!{signature[10:]}", secret=SECRET)


def test_token_of_another_secret_refused() -> None:
    token, _ = create_access_token(user_id=1, secret="other" * 10, expire_minutes=5)
    with pytest.raises(InvalidToken):
        decode_access_token(token, secret=SECRET)
