"""MCP server REST API for the backend: service token + X-User-ID, same task functions as MCP.

No such task (404), no such user (403) and the idempotency key's refusals (409, 422) are
answered by app.api.errors.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.api.deps import IdempotencyKeyHeader, ServiceCaller, Sessions, SettingsDep
from app.api.errors import IDEMPOTENT_CREATE, REPLAYED
from app.schemas import Id, TaskCreate, TaskPage, TaskPublic, TaskQuery, TaskUpdate
from app.services import idempotency, tasks

router = APIRouter(
    prefix="/tasks",
    tags=["tasks"],
    responses={
        400: {"description": "request body could not be decoded"},
        401: {"description": "missing or invalid service token"},
        404: {"description": "no such task for this user"},
    },
)
TaskId = Annotated[Id, Path(description="task id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskPublic,
    responses={403: {"description": "the user does not exist"}, **IDEMPOTENT_CREATE},
)
async def create_task(
    user_id: ServiceCaller,
    sessions: Sessions,
    settings: SettingsDep,
    body: TaskCreate,
    key: IdempotencyKeyHeader,
) -> TaskPublic | Response:
    async with sessions() as session:
        if key is None:
            return await tasks.create_task(session, owner_id=user_id, data=body)
        answer = await idempotency.create_task_once(
            session,
            owner_id=user_id,
            key=key,
            data=body,
            ttl_seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS,
        )
    headers = {REPLAYED: "true"} if answer.replayed else None
    return Response(answer.body, answer.status_code, headers, media_type="application/json")


@router.get("")
async def list_tasks(
    user_id: ServiceCaller, sessions: Sessions, query: Annotated[TaskQuery, Query()]
) -> TaskPage:
    async with sessions() as session:
        return await tasks.list_tasks(session, owner_id=user_id, query=query)


@router.get("/{task_id}")
async def get_task(user_id: ServiceCaller, sessions: Sessions, task_id: TaskId) -> TaskPublic:
    async with sessions() as session:
        return await tasks.get_task(session, owner_id=user_id, task_id=task_id)


@router.patch("/{task_id}")
async def update_task(
    user_id: ServiceCaller, sessions: Sessions, task_id: TaskId, body: TaskUpdate
) -> TaskPublic:
    async with sessions() as session:
        return await tasks.update_task(session, owner_id=user_id, task_id=task_id, data=body)


@router.post("/{task_id}/complete")
async def complete_task(user_id: ServiceCaller, sessions: Sessions, task_id: TaskId) -> TaskPublic:
    async with sessions() as session:
        return await tasks.complete_task(session, owner_id=user_id, task_id=task_id)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(user_id: ServiceCaller, sessions: Sessions, task_id: TaskId) -> Response:
    async with sessions() as session:
        await tasks.delete_task(session, owner_id=user_id, task_id=task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
