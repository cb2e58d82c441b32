"""Which schema revision this code expects, and whether the database has it.

The MCP server does not migrate (the backend's pods do, before they serve);
it is ready only once the database is at the revision its code was written
for, so a pod never serves against an older schema and a new pod starts
without a migrate step of its own. The expected revision is read from the
migration files' `revision`/`down_revision` lines, without importing Alembic.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).resolve().parents[1] / "alembic" / "versions"
_ASSIGNMENT = re.compile(r'^(revision|down_revision)\s*(?::[^=]+)?=\s*"?([\w-]+|None)"?\s*$', re.M)


@cache
def expected_revision(versions: Path = VERSIONS) -> str:
    """The head of the migration history: the revision no other one names as its parent."""
    revisions, parents = set(), set()
    for script in versions.glob("*.py"):
        found = dict(m.groups() for m in _ASSIGNMENT.finditer(script.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision Alembic recorded in the database; None before the first migration."""
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        return await conn.scalar(text("SELECT version_num FROM alembic_version"))
