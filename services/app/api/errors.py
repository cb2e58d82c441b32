"""Error responses shared by both apps: 422 names the field and reason, outages give 503."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

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


async def _dbapi_error(request: Request, exc: DBAPIError) -> JSONResponse:
    if exc.connection_invalidated:
        return await _database_unavailable(request, exc)
    raise exc


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for exc_type in (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(DBAPIError, _dbapi_error)  # type: ignore[arg-type]
