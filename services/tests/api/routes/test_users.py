"""Sign-up and token issue."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
from harness.local import Server

from tests.conftest import JWT_SECRET, User
from tests.core.test_security import LEGACY_SCRYPT, current_argon2id


def test_signup_then_token(api: httpx.Client) -> None:
    name = f"u_{uuid.uuid4().hex[:8]}"
    created = api.post("/api/v1/users", json={"username": name, "password": "long enough pw"})
    assert created.status_code == 201
    assert created.json() == {"id": created.json()["id"], "username": name}
    issued = api.post("/api/v1/auth/token", json={"username": name, "password": "long enough pw"})
    assert issued.status_code == 200
    body = issued.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(created.json()["id"])


def test_username_taken_is_409(api: httpx.Client, user: User) -> None:
    response = api.post("/api/v1/users", json={"username": user.username, "password": "x" * 10})
    assert response.status_code == 409
    assert response.json() == {"detail": "username already taken"}


@pytest.mark.parametrize(
    ("username", "password"),
    [("nouser_" + "0" * 8, "whatever pw"), (None, "wrong password")],
)
def test_bad_credentials_are_401(
    api: httpx.Client, user: User, username: str | None, password: str
) -> None:
    body = {"username": username or user.username, "password": password}
    response = api.post("/api/v1/auth/token", json=body)
    assert response.status_code == 401
    assert response.json() == {"detail": "wrong username or password"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "password": "long enough"}, "username"),
        ({"username": "has space", "password": "long enough"}, "username"),
        ({"username": "fine_name", "password": "short"}, "password"),
        ({"username": "fine_name", "password": "long enough", "admin": True}, "admin"),
    ],
)
def test_signup_validation(api: httpx.Client, body: dict, field: str) -> None:
    response = api.post("/api/v1/users", json=body)
    assert response.status_code == 422
    assert ["body", field] in [e["loc"] for e in response.json()["detail"]]
    assert "long enough" not in response.text  # the password is never echoed


def stored_hash(database_url: str, username: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE username = %s", (username,))
        return row.fetchone()[0]


def sign_in(api: httpx.Client, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return api.post("/api/v1/auth/token", json=body).status_code


def test_a_new_user_is_stored_with_an_argon2id_hash(
    api: httpx.Client, user: User, database_url: str
) -> None:
    assert current_argon2id(stored_hash(database_url, user.username))


def test_a_legacy_scrypt_user_signs_in_and_their_hash_becomes_argon2id(
    api: httpx.Client, database_url: str
) -> None:
    """A user from before argon2id, whose stored hash is scrypt: the first successful
    sign-in replaces it with an argon2id one, which then signs them in as well."""
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash) VALUES (%s, %s)", (name, LEGACY_SCRYPT)
        )
    assert sign_in(api, name, "wrong password") == 401
    assert stored_hash(database_url, name) == LEGACY_SCRYPT  # a refusal changes nothing
    assert sign_in(api, name, "correct horse battery") == 200
    upgraded = stored_hash(database_url, name)
    assert current_argon2id(upgraded)
    assert sign_in(api, name, "correct horse battery") == 200
    assert stored_hash(database_url, name) == upgraded  # current already: kept
    assert sign_in(api, name, "wrong password") == 401


def backend_cpu_seconds(backend: Server) -> float:
    """User + system CPU time of the backend process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{backend.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_signing_in_as_an_unknown_user_costs_what_a_wrong_password_costs(
    backend: Server, api: httpx.Client, user: User
) -> None:
    """Timing must not tell an unknown username from a known one: both check a password
    against an argon2id hash with the same parameters. Measured as the backend's CPU time
    (what a loaded machine disturbs least), in interleaved batches; without the check of
    the unknown user's dummy hash, its sign-ins would cost a twentieth."""
    cpu = {"unknown user": 0.0, "wrong password": 0.0}
    for round_ in range(6):
        for kind in sorted(cpu, reverse=round_ % 2 == 1):
            name = f"nobody_{uuid.uuid4().hex[:8]}" if kind == "unknown user" else user.username
            before = backend_cpu_seconds(backend)
            for _ in range(4):
                assert sign_in(api, name, "not the password") == 401
            cpu[kind] += backend_cpu_seconds(backend) - before
    ratio = cpu["unknown user"] / cpu["wrong password"]
    assert 0.8 < ratio < 1.25, cpu
