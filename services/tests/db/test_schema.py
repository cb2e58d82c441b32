"""The schema revision the code expects is the head of its migration history."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.schema import VERSIONS, expected_revision


def test_the_expected_revision_is_the_newest_migration() -> None:
    newest = sorted(p.name for p in VERSIONS.glob("*.py"))[-1]
    assert newest.startswith(expected_revision())


def test_a_forked_history_is_refused(tmp_path: Path) -> None:
    for name, parent in (("a", "None"), ("b", '"a"'), ("c", '"a"')):
        (tmp_path / f"{name}.py").write_text(f'revision = "{name}"\ndown_revision = {parent}\n')
    with pytest.raises(RuntimeError, match="2 heads"):
        expected_revision.__wrapped__(tmp_path)
