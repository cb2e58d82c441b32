"""Task data functions: the one place tasks are read or written (REST and MCP both call these).

Every function is scoped by `owner_id`, so a task of another user is simply not found.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task
from app.schemas import TaskCreate, TaskPage, TaskPublic, TaskQuery, TaskStatus, TaskUpdate


class TaskNotFound(Exception):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class UnknownOwner(Exception):
    """The caller's user id does not exist (e.g. a token outliving its user)."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(f"user {owner_id} does not exist")


async def create_task(session: AsyncSession, *, owner_id: int, data: TaskCreate) -> TaskPublic:
    task = Task(owner_id=owner_id, title=data.title, description=data.description)
    session.add(task)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise UnknownOwner(owner_id) from exc
    return TaskPublic.model_validate(task)


async def list_tasks(session: AsyncSession, *, owner_id: int, query: TaskQuery) -> TaskPage:
    where = [Task.owner_id == owner_id]
    if query.status is not None:
        where.append(Task.completed.is_(query.status is TaskStatus.completed))
    total = await session.scalar(select(func.count()).select_from(Task).where(*where))
    rows = await session.scalars(
        select(Task).where(*where).order_by(Task.id).limit(query.limit).offset(query.offset)
    )
    return TaskPage(
        items=[TaskPublic.model_validate(t) for t in rows],
        total=total or 0,
        limit=query.limit,
        offset=query.offset,
    )


async def get_task(session: AsyncSession, *, owner_id: int, task_id: int) -> TaskPublic:
    task = await session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == owner_id))
    if task is None:
        raise TaskNotFound(task_id)
    return TaskPublic.model_validate(task)


async def update_task(
    session: AsyncSession, *, owner_id: int, task_id: int, data: TaskUpdate
) -> TaskPublic:
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        return await get_task(session, owner_id=owner_id, task_id=task_id)
    stmt = (
        update(Task)
        .where(Task.id == task_id, Task.owner_id == owner_id)
        .values(**changes, updated_at=func.now())
        .returning(Task)
    )
    task = (await session.execute(stmt)).scalar_one_or_none()
    if task is None:
        await session.rollback()
        raise TaskNotFound(task_id)
    result = TaskPublic.model_validate(task)
    await session.commit()
    return result


async def complete_task(session: AsyncSession, *, owner_id: int, task_id: int) -> TaskPublic:
    return await update_task(
        session, owner_id=owner_id, task_id=task_id, data=TaskUpdate(completed=True)
    )


async def delete_task(session: AsyncSession, *, owner_id: int, task_id: int) -> None:
    result = await session.execute(
        delete(Task).where(Task.id == task_id, Task.owner_id == owner_id).returning(Task.id)
    )
    if result.scalar_one_or_none() is None:
        await session.rollback()
        raise TaskNotFound(task_id)
    await session.commit()
