"""Task creation under an idempotency key: one task per user, key and request.

The first request with a key creates the task and stores its answer; a retry with the
same key and the same request gets that answer again, until the key expires
(IDEMPOTENCY_KEY_TTL_SECONDS). The same key with another request is refused
(KeyReused), and so is a retry while the first request is still in flight (KeyInFlight).

One statement does the whole creation (see CREATE_ONCE), as a keyless creation does with
its INSERT: no explicit transaction, one round trip. PostgreSQL runs a statement
atomically, so a crash leaves the key's record and the task both or neither. In order:
- a transaction-scoped advisory lock on (user, key), taken without waiting: a request
  that cannot take it meets another one with its key still being served (409). The lock
  serialises a key's requests across every replica and is released when the statement
  commits, when its record is already visible to the next request;
- the task's id is drawn from its sequence, and the answer is written as JSON in SQL,
  byte for byte what pydantic writes for TaskPublic (tests/services/test_idempotency.py
  compares them), so the record can hold it before the task exists;
- the record's INSERT is the arbiter: it writes a new record or replaces an expired one,
  but leaves a live one alone;
- the task is inserted only when the record was written.
A retry finds no record written and reads the first answer back."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey
from app.schemas import TaskCreate
from app.services.tasks import UnknownOwner, single_statements

# Every PURGE_EVERY-th keyed creation of a process also deletes up to PURGE_BATCH expired
# records: far more than the creations add, at a twentieth of a statement each.
PURGE_EVERY, PURGE_BATCH = 20, 1000
_creations = itertools.count(1)
_keys = IdempotencyKey.__table__

# The JSON of a new task (TaskPublic's fields in its order, compact) from `id`, `at` (its
# creation time) and the :title and :description parameters. Timestamps as pydantic writes
# them: UTC with a "Z", microseconds only when they are not zero. `\:` is a colon that is
# not a bound parameter.
_STAMP = r"""to_json(
        replace(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24\:MI\:SS.US'), '.000000', '')
        || 'Z'
    )"""
TASK_JSON = rf"""concat(
    '{{"id":', id,
    ',"title":', to_json(CAST(:title AS text)),
    ',"description":', coalesce(to_json(CAST(:description AS text))::text, 'null'),
    ',"completed"\:false,"created_at":', {_STAMP},
    ',"updated_at":', {_STAMP},
    '}}'
)"""

# `key_lock` has one row: whether the lock was taken. `new_task` and `record` have one row when
# this request creates the task, none otherwise. The task's created_at and updated_at are
# their defaults, now(): the transaction's start, the same instant as `at`.
CREATE_ONCE = text(f"""
WITH key_lock AS (
    SELECT pg_try_advisory_xact_lock(:lock_owner, :lock_key) AS taken
), new_task AS (
    SELECT nextval('tasks_id_seq') AS id, now() AS at FROM key_lock WHERE taken
), record AS (
    INSERT INTO idempotency_keys AS live
        (owner_id, key, fingerprint, status_code, response, created_at, expires_at)
    SELECT :owner_id, :key, :fingerprint, 201, {TASK_JSON}, at,
           at + make_interval(secs => :ttl_seconds)
    FROM new_task
    ON CONFLICT (owner_id, key) DO UPDATE SET
        fingerprint = excluded.fingerprint,
        status_code = excluded.status_code,
        response = excluded.response,
        created_at = excluded.created_at,
        expires_at = excluded.expires_at
    WHERE live.expires_at <= now()
    RETURNING response
), task AS (
    INSERT INTO tasks (id, owner_id, title, description)
    SELECT new_task.id, :owner_id, CAST(:title AS text), CAST(:description AS text)
    FROM new_task, record
)
SELECT key_lock.taken, record.response FROM key_lock LEFT JOIN record ON true
""")  # noqa: S608 - built from this module's constants; every value is a bound parameter


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
_stored = select(_keys.c.fingerprint, _keys.c.status_code, _keys.c.response)


async def create_task_once(
    session: AsyncSession, *, owner_id: int, key: str, data: TaskCreate, ttl_seconds: int
) -> Answer:
    """Create the task unless this key already did; see the module's docstring."""
    conn = await single_statements(session)
    lock_owner, lock_key = lock_id(owner_id, key)
    params = {
        "lock_owner": lock_owner,
        "lock_key": lock_key,
        "owner_id": owner_id,
        "key": key,
        "fingerprint": fingerprint(data),
        "title": data.title,
        "description": data.description,
        "ttl_seconds": ttl_seconds,
    }
    try:
        taken, body = (await conn.execute(CREATE_ONCE, params)).one()
    except IntegrityError as exc:  # the foreign key to users: no such user
        raise UnknownOwner(owner_id) from exc
    if not taken:
        raise KeyInFlight
    if body is not None:
        if next(_creations) % PURGE_EVERY == 0:
            await conn.execute(_purge)
        return Answer(201, body, replayed=False)

    stored = (
        await conn.execute(_stored.where(_keys.c.owner_id == owner_id, _keys.c.key == key))
    ).one_or_none()
    if stored is None:  # purged in between, at the very end of its life: start afresh
        raise KeyInFlight
    if stored.fingerprint != params["fingerprint"]:
        raise KeyReused
    return Answer(stored.status_code, stored.response, replayed=True)
