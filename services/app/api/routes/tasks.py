"""Backend task API: validates at the edge, then forwards to the MCP server's REST API.

The backend never touches the tasks table; the MCP server owns it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from app.api.deps import CurrentUserId, IdempotencyKeyHeader
from app.api.errors import IDEMPOTENT_CREATE, REPLAYED
from app.mcp_client import MCPClient, TaskServiceError, TaskServiceResponse
from app.schemas import Id, TaskCreate, TaskPage, TaskPublic, TaskQuery, TaskUpdate


async def task_service(request: Request) -> MCPClient:
    if not request.app.state.settings.MCP_ENABLED:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="task service disabled (MCP_ENABLED=false)",
        )
    return request.app.state.mcp_client


TaskService = Annotated[MCPClient, Depends(task_service)]
TaskId = Annotated[Id, Path(description="task id")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "request body could not be decoded"},
    401: {"description": "missing or invalid bearer token"},
    404: {"description": "no such task for this user"},
    502: {"description": "task service gave a bad answer"},
    503: {"description": "task service unavailable or disabled"},
    504: {"description": "task service timed out"},
}

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=_ERRORS)
JSON = "application/json"
# The MCP server's headers that belong to the user's answer (a replay, when to retry).
_PASSED_ON = (REPLAYED, "Retry-After")


def _passed_on(headers: dict[str, str]) -> dict[str, str]:
    """`headers` has lower-case names (see app.mcp_client)."""
    return {name: headers[name.lower()] for name in _PASSED_ON if name.lower() in headers}


async def _call(
    client: MCPClient, model: type[BaseModel] | None, method: str, path: str, **kwargs: Any
) -> Response:
    """Forward to the MCP server; pass its JSON through once it validates as `model`."""
    try:
        upstream = await client.request(method, path, **kwargs)
    except TaskServiceError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    except TaskServiceResponse as exc:
        return JSONResponse(exc.body, status_code=exc.status, headers=_passed_on(exc.headers))
    if model is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    try:
        model.model_validate_json(upstream.content)
    except ValidationError:
        return JSONResponse({"detail": "task service sent an invalid task"}, status_code=502)
    # The validated bytes go out as they came: no decode and re-encode per request.
    headers = _passed_on(upstream.headers)
    return Response(upstream.content, upstream.status_code, headers, media_type=JSON)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TaskPublic, responses=IDEMPOTENT_CREATE
)
async def create_task(
    user_id: CurrentUserId, client: TaskService, body: TaskCreate, key: IdempotencyKeyHeader
) -> Response:
    payload = body.model_dump(mode="json")
    return await _call(
        client, TaskPublic, "POST", "/tasks", user_id=user_id, json=payload, idempotency_key=key
    )


@router.get("", response_model=TaskPage)
async def list_tasks(
    user_id: CurrentUserId, client: TaskService, query: Annotated[TaskQuery, Query()]
) -> Response:
    params = query.model_dump(mode="json", exclude_none=True)
    return await _call(client, TaskPage, "GET", "/tasks", user_id=user_id, params=params)


@router.get("/{task_id}", response_model=TaskPublic)
async def get_task(user_id: CurrentUserId, client: TaskService, task_id: TaskId) -> Response:
    return await _call(client, TaskPublic, "GET", f"/tasks/{task_id}", user_id=user_id)


@router.patch("/{task_id}", response_model=TaskPublic)
async def update_task(
    user_id: CurrentUserId, client: TaskService, task_id: TaskId, body: TaskUpdate
) -> Response:
    payload = body.model_dump(mode="json", exclude_unset=True)
    return await _call(
        client, TaskPublic, "PATCH", f"/tasks/{task_id}", user_id=user_id, json=payload
    )


@router.post("/{task_id}/complete", response_model=TaskPublic)
async def complete_task(user_id: CurrentUserId, client: TaskService, task_id: TaskId) -> Response:
    return await _call(client, TaskPublic, "POST", f"/tasks/{task_id}/complete", user_id=user_id)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(user_id: CurrentUserId, client: TaskService, task_id: TaskId) -> Response:
    return await _call(client, None, "DELETE", f"/tasks/{task_id}", user_id=user_id)
