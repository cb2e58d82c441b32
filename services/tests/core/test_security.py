"""Password hashing and user tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from app.core.security import (
    InvalidToken,
    PasswordCheck,
    check_password,
    create_access_token,
    decode_access_token,
    dummy_hash,
    hash_password,
)

SECRET = "k" * 64
# The current argon2id parameters: 19 MiB (19456 KiB) of memory, 2 iterations, 1 lane.
CURRENT_ARGON2ID = {"type": "ID", "memory_cost": 19456, "time_cost": 2, "parallelism": 1}
# "correct horse battery" as releases before argon2id stored it (scrypt, N=2^14, r=8, p=1).
LEGACY_SCRYPT = (
    "scrypt$16384$8$1$wjieHWJTux1Irn16EuSkxQ==$AyDpUCf2dOnuUYDLkWsDrPKElVQkTjROCyBZi21eCOk="
)


def current_argon2id(stored: str) -> bool:
    params = extract_parameters(stored)
    return {
        "type": params.type.name,
        "memory_cost": params.memory_cost,
        "time_cost": params.time_cost,
        "parallelism": params.parallelism,
    } == CURRENT_ARGON2ID


def test_new_hashes_are_argon2id_with_the_current_parameters() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert current_argon2id(stored)
    assert check_password("correct horse", stored).matches
    assert check_password("correct horse", stored).upgraded_hash is None  # already current
    assert not check_password("wrong horse", stored).matches
    assert hash_password("correct horse") != stored  # salted


def test_a_legacy_scrypt_hash_verifies_and_is_upgraded_to_argon2id() -> None:
    check = check_password("correct horse battery", LEGACY_SCRYPT)
    assert check.matches
    assert check.upgraded_hash is not None and current_argon2id(check.upgraded_hash)
    again = check_password("correct horse battery", check.upgraded_hash)
    assert again.matches and again.upgraded_hash is None


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(LEGACY_SCRYPT, id="scrypt"),
        pytest.param(hash_password("correct horse battery"), id="argon2id"),
        pytest.param(
            PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash("correct horse battery"),
            id="argon2id-other-parameters",
        ),
    ],
)
def test_a_wrong_password_is_refused_and_nothing_is_upgraded(stored: str) -> None:
    for wrong in ("correct horse batterY", "", "correct horse battery "):
        assert check_password(wrong, stored) == PasswordCheck(matches=False, upgraded_hash=None)


def test_an_argon2id_hash_below_the_current_parameters_is_upgraded() -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw")
    check = check_password("pw", weaker)
    assert check.matches
    assert check.upgraded_hash is not None and current_argon2id(check.upgraded_hash)


def test_the_unknown_users_dummy_hash_costs_what_a_users_hash_costs() -> None:
    # Checked instead of a user's hash: same scheme and parameters, so the same work.
    assert current_argon2id(dummy_hash())
    assert not check_password("anything", dummy_hash()).matches


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$x",
        "scrypt$1$2$3$!!$!!",
        "scrypt$a$b$c$d$e",
        "scrypt$16384$8$1$!!$!!",
        "$argon2id$v=19$m=19456,t=2,p=1$!!$!!",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        "$argon2id$",
    ],
)
def test_malformed_hash_never_verifies(stored: str) -> None:
    assert check_password("anything", stored).matches is False


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
