"""Configuration errors end a process with one line and exit code 1, in every process.

A process that cannot start because of its configuration (a DATABASE_URL that does not
parse, a setting of the wrong type or out of its range, a required secret missing or
weak, a bad UVICORN_* option) prints one line on stderr and exits with code 1:

    configuration error: DB_POOL_SIZE: Input should be a valid integer

It names each setting and the rule it breaks, and shows no traceback and no value of
our settings (one may be a secret; uvicorn's options are quoted as uvicorn quotes them).
Every process builds its settings with `load`; a check of its own ends with `stop`. This
module imports pydantic only, so a process without a database can use it without the
SQLAlchemy that app.core.config imports.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import BaseSettings

PREFIX = "configuration error: "
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load(settings_class: type[SettingsT], **values: Any) -> SettingsT:
    """`settings_class(**values)` (the environment fills the rest), or `stop` naming what
    is wrong. The class should set `hide_input_in_errors=True`."""
    try:
        return settings_class(**values)
    except ValidationError as exc:
        stop(describe(exc))


def stop(problem: str) -> NoReturn:
    """End the process: `configuration error: <problem>` on one line of stderr, exit code 1
    (how Python exits on a SystemExit that carries a message)."""
    raise SystemExit(PREFIX + " ".join(problem.splitlines()))


def describe(exc: ValidationError) -> str:
    """`SETTING: rule; ...` from a settings ValidationError, without the input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        rule = error["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {rule}" if name else rule)
    return "; ".join(parts)


def http_url(value: str) -> str:
    """The rule of every URL setting (MCP_SERVER_URL, BACKEND_URL): http(s), a host name and
    a port that is a number in range; a ValueError, which settings report in one line,
    rather than the HTTP client's traceback at start-up."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host name")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number or out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value
