"""Task creation under an idempotency key: one task per user, key and request.

The first request with a key creates the task and stores its answer; a retry with the
same key and the same request gets that answer again, until the key expires
(IDEMPOTENCY_KEY_TTL_SECONDS). The same key with another request is refused
(KeyReused), and so is a retry while the first request is still in flight (KeyInFlight).

The key's record is written in the task's own transaction, so a crash leaves both or
neither. A transaction-scoped advisory lock on (user, key) serialises requests with the
same key across every replica: a request that cannot take it at once meets another one
with its key still being served. The lock is released at commit, when the record is
already visible to the next request. A retry inserts its task before it learns that it
is one, and undoes it: task ids are not consecutive (they never were, under rollbacks)."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Text, delete, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey, Task
from app.schemas import TaskCreate, TaskPublic
from app.services.tasks import UnknownOwner

# Every PURGE_EVERY-th keyed creation of a process also deletes up to PURGE_BATCH expired
# records: far more than the creations add, at a twentieth of a statement each.
PURGE_EVERY, PURGE_BATCH = 20, 1000
_creations = itertools.count(1)
# Core tables: an ORM-enabled INSERT ... ON CONFLICT or DELETE takes SQLAlchemy's
# bulk-persistence path, several times the CPU for the same statement.
_keys = IdempotencyKey.__table__
_tasks = Task.__table__


class KeyInFlight(Exception):
    def __init__(self) -> None:
        super().__init__("a request with this idempotency key is still in progress; retry later")


class KeyReused(Exception):
    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was already used with another request; use a new key"
        )


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str  # the JSON text, replayed byte for byte
    replayed: bool


def fingerprint(data: TaskCreate) -> str:
    """sha256 of the operation and its validated payload, so `{"title": "a"}` and
    `{"title": "a", "description": null}` are the same request."""
    canonical = {"operation": "create_task", "payload": data.model_dump(mode="json")}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def lock_id(owner_id: int, key: str) -> tuple[int, int]:
    """The advisory lock of (user, key): the user's id and 32 bits of the key's hash (the
    two-integer lock space, apart from the migrations' single-bigint lock). Two keys of
    one user that share those bits only ever get a 409 for each other, never a record."""
    digest = hashlib.sha256(key.encode()).digest()
    return owner_id, int.from_bytes(digest[:4], "big", signed=True)


_expired = (
    select(_keys.c.owner_id, _keys.c.key)
    .where(_keys.c.expires_at <= func.now())
    .order_by(_keys.c.expires_at)
    .limit(PURGE_BATCH)
    .with_for_update(skip_locked=True)
)
_purge = delete(_keys).where(tuple_(_keys.c.owner_id, _keys.c.key).in_(_expired))


async def create_task_once(
    session: AsyncSession, *, owner_id: int, key: str, data: TaskCreate, ttl_seconds: int
) -> Answer:
    """Two statements where a keyless creation has one: the task's INSERT takes the lock
    (no row when it cannot), and the record's INSERT is the arbiter: it writes a new
    record or replaces an expired one, but leaves a live one alone, and then this is a
    retry whose task is undone and whose first answer is read back."""
    locked_insert = (
        insert(_tasks)
        .from_select(
            ["owner_id", "title", "description"],
            select(literal(owner_id), literal(data.title), literal(data.description, Text)).where(
                func.pg_try_advisory_xact_lock(*lock_id(owner_id, key))
            ),
        )
        .returning(*_tasks.c)
    )
    try:
        created = (await session.execute(locked_insert)).one_or_none()
    except IntegrityError as exc:
        await session.rollback()
        raise UnknownOwner(owner_id) from exc
    if created is None:
        await session.rollback()
        raise KeyInFlight
    body = TaskPublic.model_validate(created._mapping).model_dump_json()
    record = {
        "fingerprint": fingerprint(data),
        "status_code": 201,
        "response": body,
        "created_at": func.now(),
        "expires_at": func.now() + timedelta(seconds=ttl_seconds),
    }
    written = await session.scalar(
        insert(_keys)
        .values(owner_id=owner_id, key=key, **record)
        .on_conflict_do_update(
            index_elements=["owner_id", "key"], set_=record, where=_keys.c.expires_at <= func.now()
        )
        .returning(literal(True))
    )
    if written:
        if next(_creations) % PURGE_EVERY == 0:
            await session.execute(_purge)
        await session.commit()
        return Answer(201, body, replayed=False)

    await session.rollback()  # a live record: undo this task, release the lock
    stored = (
        await session.execute(
            select(_keys.c.fingerprint, _keys.c.status_code, _keys.c.response).where(
                _keys.c.owner_id == owner_id, _keys.c.key == key
            )
        )
    ).one_or_none()
    if stored is None:  # purged in between, at the very end of its life: start afresh
        raise KeyInFlight
    if stored.fingerprint != fingerprint(data):
        raise KeyReused
    return Answer(stored.status_code, stored.response, replayed=True)
