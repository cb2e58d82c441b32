"""Request and response models: the edge validation shared by REST and MCP."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1  # ids are PostgreSQL `integer`
TITLE_MAX = 200
DESCRIPTION_MAX = 2000


def _storable(value: str) -> str:
    """PostgreSQL text cannot hold NUL, and lone surrogates are not UTF-8."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


_Storable = AfterValidator(_storable)
# The OpenAPI schema states the NUL rule, so schema-valid input is never refused for it.
_NUL_FREE = {"pattern": "^[^\\x00]*$"}
Title = Annotated[
    str, Field(min_length=1, max_length=TITLE_MAX, json_schema_extra=_NUL_FREE), _Storable
]
Description = Annotated[
    str, Field(max_length=DESCRIPTION_MAX, json_schema_extra=_NUL_FREE), _Storable
]
Id = Annotated[int, Field(gt=0, le=MAX_ID)]
Username = Annotated[str, Field(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[
    str, Field(min_length=8, max_length=128, json_schema_extra=_NUL_FREE), _Storable
]
# An idempotency key: 1-255 characters that a UUID, ULID or base64(url) token is made of.
IDEMPOTENCY_KEY = r"[A-Za-z0-9._~:+/=-]{1,255}"
IdempotencyKeyValue = Annotated[str, Field(pattern=rf"^{IDEMPOTENCY_KEY}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Strict):
    username: Username
    password: Password


class UserPublic(BaseModel):
    id: int
    username: str


class TokenRequest(Strict):
    username: Annotated[
        str, Field(min_length=1, max_length=50, json_schema_extra=_NUL_FREE), _Storable
    ]
    password: Annotated[
        str, Field(min_length=1, max_length=128, json_schema_extra=_NUL_FREE), _Storable
    ]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class TaskCreate(Strict):
    title: Title
    description: Description | None = None


class TaskUpdate(Strict):
    """Fields left out stay as they are; `description: null` clears the description.

    `title` and `completed` default to None only when omitted: an explicit null is
    refused, and the schema says so (they are not nullable).
    """

    title: Title = None  # type: ignore[assignment]
    description: Description | None = None
    completed: bool = None  # type: ignore[assignment]


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime


class TaskStatus(StrEnum):
    open = "open"
    completed = "completed"


class TaskQuery(Strict):
    """Query string of `GET /tasks`; unknown parameters are refused."""

    status: TaskStatus | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=MAX_ID)] = 0


class TaskPage(BaseModel):
    items: list[TaskPublic]
    total: int
    limit: int
    offset: int
