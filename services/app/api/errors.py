"""Error responses shared by both apps: 422 names the field and reason, outages give 503,
the task functions' own errors (no such task, no such user) give 404 and 403, an
idempotency key in flight 409, one reused with another request 422."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.services import idempotency, tasks

log = logging.getLogger(__name__)

REPLAYED = "Idempotent-Replayed"  # `true` on an answer given again to a retried key
# The answers of a create that takes an Idempotency-Key, for the OpenAPI documents.
IDEMPOTENT_CREATE: dict[int | str, dict[str, Any]] = {
    201: {"headers": {REPLAYED: {"description": "`true` when this is a retry's replayed answer"}}},
    409: {"description": "a request with this Idempotency-Key is still in progress: retry"},
    422: {"description": "invalid input, or an Idempotency-Key used with another body"},
}


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    # Echo location, reason and type only: never the input (it may hold a password, or
    # characters that cannot be encoded back into JSON).
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse({"detail": "database unavailable, try again later"}, status_code=503)


# SQLSTATEs meaning "the server cannot serve now", not "this statement is wrong": class 08
# (connection exception), admin/crash shutdown and "the database system is starting up /
# shutting down" (57P01-57P03, what a restarting PostgreSQL answers), too many connections.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


async def _dbapi_error(request: Request, exc: DBAPIError) -> JSONResponse:
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if exc.connection_invalidated or sqlstate.startswith(_UNAVAILABLE_STATES):
        return await _database_unavailable(request, exc)
    raise exc


async def _task_not_found(_: Request, exc: tasks.TaskNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _unknown_owner(_: Request, exc: tasks.UnknownOwner) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=403)


async def _key_in_flight(_: Request, exc: idempotency.KeyInFlight) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409, headers={"Retry-After": "1"})


async def _key_reused(_: Request, exc: idempotency.KeyReused) -> JSONResponse:
    # Shaped as a validation error of the header, like every other 422 of this API.
    error = {
        "loc": ["header", "Idempotency-Key"],
        "msg": str(exc),
        "type": "idempotency_key_reused",
    }
    return JSONResponse({"detail": [error]}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for exc_type in (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(DBAPIError, _dbapi_error)  # type: ignore[arg-type]
    app.add_exception_handler(tasks.TaskNotFound, _task_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(tasks.UnknownOwner, _unknown_owner)  # type: ignore[arg-type]
    app.add_exception_handler(idempotency.KeyInFlight, _key_in_flight)  # type: ignore[arg-type]
    app.add_exception_handler(idempotency.KeyReused, _key_reused)  # type: ignore[arg-type]
