"""A keyed creation is one statement, as a keyless one is; the answer it stores is written
in SQL, before the task exists, so it must be what pydantic writes for the task, byte for
byte, whatever the title, the description and the instant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import anyio
import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.db import session as db
from app.schemas import TaskCreate, TaskPublic
from app.services import idempotency, tasks
from app.services.idempotency import TASK_JSON
from tests.conftest import JWT_SECRET, SERVICE_TOKEN, User

# Every ASCII character but NUL (PostgreSQL text cannot hold it), and a few beyond.
ASCII = "".join(chr(code) for code in range(1, 128))
RENDER = text(
    f"SELECT {TASK_JSON} FROM "  # noqa: S608 - the module's constant; values are bound
    "(SELECT CAST(:id AS integer) AS id, CAST(:at AS timestamptz) AS at) AS new_task"
)


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("plain", None),
        (ASCII, ASCII),
        ('quotes " and \\ backslashes \\" \\\\', ""),
        ("é 中文 😀 \u2028 \u2029 \ufeff \uffff", "line\nbreak\ttab\r\x7f"),
        ("x" * 200, "y" * 2000),
    ],
)
@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 12, 6, 2, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 12, 6, 2, 30, 15, tzinfo=UTC),  # no microseconds: none written
        datetime(2026, 12, 6, 2, 30, 15, 120, tzinfo=UTC),  # leading zeros kept
        datetime(2027, 1, 1, 1, 0, 0, 500000, tzinfo=timezone(timedelta(hours=5))),
    ],
)
@pytest.mark.parametrize("session_time_zone", ["UTC", "America/New_York"])
def test_the_stored_answer_is_what_pydantic_writes(
    engine: Engine, title: str, description: str | None, at: datetime, session_time_zone: str
) -> None:
    with engine.connect() as conn:
        conn.execute(text(f"SET TIME ZONE '{session_time_zone}'"))
        rendered = conn.scalar(
            RENDER, {"id": 2**31 - 1, "at": at, "title": title, "description": description}
        )
    expected = TaskPublic(
        id=2**31 - 1,
        title=title,
        description=description,
        completed=False,
        created_at=at.astimezone(UTC),
        updated_at=at.astimezone(UTC),
    ).model_dump_json()
    assert rendered == expected


def statements_sent(database_url: str, work: Callable[[AsyncSession], Awaitable[object]]) -> int:
    """How many statements `work` sends to PostgreSQL through the app's own engine."""
    settings = Settings(
        DATABASE_URL=database_url, JWT_SECRET=JWT_SECRET, MCP_SERVICE_TOKEN=SERVICE_TOKEN
    )
    sent: list[str] = []

    async def run() -> None:
        engine = db.create_engine(settings)
        event.listen(
            engine.sync_engine, "before_cursor_execute", lambda *args: sent.append(args[2])
        )
        try:
            async with db.create_sessionmaker(engine)() as session:
                await work(session)
        finally:
            await engine.dispose()

    anyio.run(run)
    return len(sent)


def test_a_keyed_creation_is_one_statement_as_a_keyless_one_is(
    database_url: str, user: User
) -> None:
    data, key = TaskCreate(title="one round trip"), str(uuid.uuid4())

    def keyed(session: AsyncSession) -> Awaitable[object]:
        return idempotency.create_task_once(
            session, owner_id=user.id, key=key, data=data, ttl_seconds=60
        )

    assert (
        statements_sent(
            database_url, lambda session: tasks.create_task(session, owner_id=user.id, data=data)
        )
        == 1
    )
    assert statements_sent(database_url, keyed) == 1
    assert statements_sent(database_url, keyed) == 2  # a replay reads the first answer back
