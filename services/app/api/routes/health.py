"""Liveness and readiness, shared by both apps (readiness checks differ per app)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.db.session import ping

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

Check = Callable[[Request], Awaitable[str]]


@router.get("/health")
async def health() -> dict[str, str]:
    """The process serves HTTP. Touches nothing else, so a DB outage never restarts pods."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "a required dependency is not reachable"}})
async def ready(request: Request) -> JSONResponse:
    """Every check runs and is reported; 503 when a required one fails.

    Checks named in `app.state.degraded_ok` (each app sets it) are reported but do
    not fail readiness: the status is then "degraded" with 200. The backend uses this for the MCP
    server, so an MCP outage is answered with clear 503s on the task calls instead
    of every backend pod leaving its Service at once (connection errors for all).
    """
    checks: dict[str, Check] = request.app.state.ready_checks
    degraded_ok: frozenset[str] = request.app.state.degraded_ok
    results = await asyncio.gather(*(check(request) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    failing = {name for name, result in report.items() if result not in ("ok", "disabled")}
    if failing - degraded_ok:
        status, code = "not ready", 503
    else:
        status, code = ("degraded" if failing else "ready"), 200
    return JSONResponse({"status": status, "checks": report}, status_code=code)


async def schema_check(request: Request) -> str:
    """The database holds the schema revision this code expects (see app.db.schema)."""
    from app.db.schema import current_revision, expected_revision

    try:
        found = await asyncio.wait_for(current_revision(request.app.state.engine), timeout=3)
    except Exception as exc:  # any failure means "not ready", never a 500
        log.warning("readiness: schema check failed: %s", type(exc).__name__)
        return "unavailable"
    if found != expected_revision():
        log.warning("readiness: schema at %s, this code needs %s", found, expected_revision())
        return "not migrated"
    return "ok"


async def database_check(request: Request) -> str:
    try:
        await asyncio.wait_for(ping(request.app.state.engine), timeout=3)
    except Exception as exc:  # any failure means "not ready", never a 500
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return "unavailable"
    return "ok"
