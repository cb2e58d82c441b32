"""Step timing and progress output shared by every airgap build step.

Usage::

    from airgap.progress import step, note, summary

    with step("python base image"):
        note("running docker build")
        ...

    summary()   # prints a table of every step with its wall time

Each step prints a start line, an end line with its elapsed time, and (for
long steps) a heartbeat while it runs so a silent build never looks hung.
Steps may nest; the table shows them indented.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HEARTBEAT_SECONDS = 30.0


@dataclass
class StepRecord:
    name: str
    depth: int
    seconds: float = 0.0
    status: str = "running"  # running | ok | cached | failed
    detail: str = ""


_records: list[StepRecord] = []
_stack: list[StepRecord] = []
_lock = threading.Lock()


def _out(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prefix(depth: int) -> str:
    return "[airgap] " + "  " * depth


def note(message: str) -> None:
    """Print a progress line inside the current step."""
    depth = len(_stack)
    _out(f"{_prefix(depth)}{message}")


def mark_cached(detail: str = "") -> None:
    """Mark the innermost running step as satisfied from cache."""
    if _stack:
        _stack[-1].status = "cached"
        if detail:
            _stack[-1].detail = detail


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


@contextmanager
def step(name: str, heartbeat: float = HEARTBEAT_SECONDS) -> Iterator[StepRecord]:
    """Time a named step; print start, heartbeat, and elapsed time at the end."""
    record = StepRecord(name=name, depth=len(_stack))
    with _lock:
        _records.append(record)
    _stack.append(record)
    _out(f"{_prefix(record.depth)}==> {name} ...")
    start = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(heartbeat):
            elapsed = format_seconds(time.monotonic() - start)
            _out(f"{_prefix(record.depth)}... {name}: still working ({elapsed})")

    ticker = threading.Thread(target=beat, name=f"heartbeat:{name}", daemon=True)
    if heartbeat > 0:
        ticker.start()
    try:
        yield record
    except BaseException:
        record.status = "failed"
        raise
    finally:
        done.set()
        record.seconds = time.monotonic() - start
        if record.status == "running":
            record.status = "ok"
        _stack.pop()
        extra = f" ({record.detail})" if record.detail else ""
        _out(
            f"{_prefix(record.depth)}<== {name}: {record.status} "
            f"in {format_seconds(record.seconds)}{extra}"
        )


def records() -> list[StepRecord]:
    """Every step recorded so far, in start order."""
    return list(_records)


def reset() -> None:
    """Forget recorded steps (tests, or a CLI that runs several commands)."""
    with _lock:
        _records.clear()


def summary_table() -> str:
    rows = [(("  " * r.depth) + r.name, r.status, format_seconds(r.seconds)) for r in _records]
    if not rows:
        return "(no steps)"
    total = sum(r.seconds for r in _records if r.depth == 0)
    rows.append(("total", "", format_seconds(total)))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'step':<{width}}  {'status':<7}  time", "-" * (width + 18)]
    lines += [f"{n:<{width}}  {s:<7}  {t:>8}" for n, s, t in rows]
    return "\n".join(lines)


def summary() -> None:
    """Print a table of every recorded step and its wall time."""
    _out("\n" + summary_table())
