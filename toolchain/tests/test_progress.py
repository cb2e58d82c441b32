"""Step timing output: nesting, status, the summary table."""

from __future__ import annotations

import pytest

from toolchain import progress


def test_steps_are_timed_and_tabulated(capsys: pytest.CaptureFixture[str]) -> None:
    progress.reset()
    with progress.step("outer", heartbeat=0):
        with progress.step("cached inner", heartbeat=0):
            progress.mark_cached("exists")
        progress.note("working")
    with pytest.raises(ValueError), progress.step("broken", heartbeat=0):
        raise ValueError("boom")
    statuses = {r.name: (r.status, r.depth) for r in progress.records()}
    assert statuses == {
        "outer": ("ok", 0),
        "cached inner": ("cached", 1),
        "broken": ("failed", 0),
    }
    table = progress.summary_table()
    assert "  cached inner" in table and "total" in table
    err = capsys.readouterr().err
    assert "==> outer" in err and "<== cached inner: cached" in err and "(exists)" in err
    progress.reset()


def test_format_seconds() -> None:
    assert progress.format_seconds(3.21) == "3.2s"
    assert progress.format_seconds(125.0) == "2m05.0s"
