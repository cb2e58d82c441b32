"""Sign-up and token issue."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest

from tests.conftest import JWT_SECRET, User


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
