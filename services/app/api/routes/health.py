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


@router.get("/ready", responses={503: {"description": "a dependency is not reachable"}})
async def ready(request: Request) -> JSONResponse:
    """Every dependency this process needs answers; 503 (with the failing check) otherwise."""
    checks: dict[str, Check] = request.app.state.ready_checks
    results = await asyncio.gather(*(check(request) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    ok = all(result in ("ok", "disabled") for result in results)
    body = {"status": "ready" if ok else "not ready", "checks": report}
    return JSONResponse(body, status_code=200 if ok else 503)


async def database_check(request: Request) -> str:
    try:
        await asyncio.wait_for(ping(request.app.state.engine), timeout=3)
    except Exception as exc:  # any failure means "not ready", never a 500
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return "unavailable"
    return "ok"
