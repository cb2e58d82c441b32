"""Error responses shared by both apps: 422 names the field and reason, outages give 503,
the task functions' own errors (no such task, no such user) give 404 and 403."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.services import tasks

log = logging.getLogger(__name__)


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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for exc_type in (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(DBAPIError, _dbapi_error)  # type: ignore[arg-type]
    app.add_exception_handler(tasks.TaskNotFound, _task_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(tasks.UnknownOwner, _unknown_owner)  # type: ignore[arg-type]
