"""Progress and wall times of long steps, printed live and kept as a phase table.

Usage::

    from toolchain.progress import step, note, summary

    with step("python base image"):
        note("running docker build")

Each step prints a start line, a heartbeat while it runs (so a silent build
never looks hung) and an end line with its status and elapsed time. Steps
nest. `summary()` prints this process's steps as a table.

A run spans several processes (nox, the builders, pytest). When
`TODO_PHASES_FILE` names a file, every step of depth 0 to 2 is also appended
to it (JSON lines, safe across processes), so the session that started the
run can print one phase table for all of them (`read_phases`, `phase_table`).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

HEARTBEAT_SECONDS = 30.0
PHASES_ENV = "TODO_PHASES_FILE"
PHASE_DEPTH = 2  # steps this deep or shallower go to the phase file


@dataclass
class StepRecord:
    name: str
    depth: int
    seconds: float = 0.0
    status: str = "running"  # running | ok | cached | failed
    detail: str = ""
    started: float = 0.0  # wall clock, to order steps of several processes


_records: list[StepRecord] = []
_stack: list[StepRecord] = []
_lock = threading.Lock()
_prefix_label = "todo"


def set_label(label: str) -> None:
    """The tag printed before every line of this process (e.g. "airgap", "e2e")."""
    global _prefix_label
    _prefix_label = label


def _out(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prefix(depth: int) -> str:
    return f"[{_prefix_label}] " + "  " * depth


def note(message: str) -> None:
    """Print a progress line inside the current step."""
    _out(f"{_prefix(len(_stack))}{message}")


def mark_cached(detail: str = "") -> None:
    """Mark the innermost running step as satisfied from the cache."""
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
    """Time a named step; print start, heartbeat and elapsed time; record it."""
    record = StepRecord(name=name, depth=len(_stack), started=time.time())
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

    if heartbeat > 0:
        threading.Thread(target=beat, name=f"heartbeat:{name}", daemon=True).start()
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
        if record.depth <= PHASE_DEPTH:
            append_phase(record)


def records() -> list[StepRecord]:
    """Every step of this process so far, in start order."""
    return list(_records)


def reset() -> None:
    """Forget this process's recorded steps."""
    with _lock:
        _records.clear()


def _table(rows: list[tuple[str, str, float]], with_total: bool) -> str:
    if not rows:
        return "(no steps)"
    lines = [(name, status, format_seconds(seconds)) for name, status, seconds in rows]
    if with_total:
        total = sum(seconds for name, _, seconds in rows if not name.startswith(" "))
        lines.append(("total", "", format_seconds(total)))
    width = max(len(n) for n, _, _ in lines)
    out = [f"{'step':<{width}}  {'status':<7}  time", "-" * (width + 18)]
    out += [f"{n:<{width}}  {s:<7}  {t:>8}" for n, s, t in lines]
    return "\n".join(out)


def summary_table() -> str:
    rows = [(("  " * r.depth) + r.name, r.status, r.seconds) for r in _records]
    return _table(rows, with_total=True)


def summary() -> None:
    """Print a table of every step of this process and its wall time."""
    _out("\n" + summary_table())


# --- the run's phase file (several processes) ------------------------------------------


def phases_file() -> Path | None:
    value = os.environ.get(PHASES_ENV, "").strip()
    return Path(value) if value else None


def append_phase(record: StepRecord, path: Path | None = None) -> None:
    """Append one finished step to the phase file (no-op when none is configured)."""
    path = path or phases_file()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**asdict(record), "seconds": round(record.seconds, 1)}) + "\n"
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)


def read_phases(path: Path | None = None) -> list[dict]:
    """The phase file's records (in the order they finished)."""
    path = path or phases_file()
    if path is None or not path.exists():
        return []
    phases = []
    for line in path.read_text().splitlines():
        try:
            phases.append(json.loads(line))
        except ValueError:
            continue
    return phases


def phase_table(phases: list[dict]) -> str:
    """The run's phases as a table, in the order they started (nested ones indented)."""
    ordered = sorted(phases, key=lambda p: p.get("started", 0.0))
    rows = [("  " * p["depth"] + p["name"], p["status"], p["seconds"]) for p in ordered]
    return _table(rows, with_total=False)
