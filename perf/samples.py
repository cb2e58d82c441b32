"""Record every request Locust sees into a CSV of samples.

Locust's own CSV files hold cumulative figures and sliding-window
percentiles; the report needs exact per-window percentiles (per step of a
step shape, per 5-second bucket), so the locustfile also keeps each request
as one row: seconds since the test started, type, name, response time (ms),
response length, ok (1/0), the user count at that moment, and for a failure
its kind (`error_kind`: "HTTP 503", or the exception's type and first words).
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("t", "type", "name", "ms", "bytes", "ok", "users", "error")


@dataclass(frozen=True)
class Sample:
    t: float
    type: str
    name: str
    ms: float
    bytes: int
    ok: bool
    users: int
    error: str = ""  # a failure's kind, "" for a success


def error_kind(exception: BaseException | str | None) -> str:
    """A failure as a kind to count: "HTTP <status>" when the failure names one (Locust's
    failures for an answer say "503 Server Error ..." or carry the status), else the
    exception's type and the first words of its message."""
    if exception is None:
        return ""
    text = str(exception)
    wrapped = re.fullmatch(r"(\w+)\((['\"])(.*)\2\)", text.strip(), re.S)
    if isinstance(exception, str) and wrapped:  # Locust's failures.csv: "HTTPError('503 ...')"
        kind = error_kind(wrapped.group(3))
        return kind if kind.startswith("HTTP ") else f"{wrapped.group(1)}: {kind}"
    status = re.match(r"\s*(\d{3})\b", text) or re.search(
        r"\b(?:status(?: code)?|HTTP)\W+(\d{3})\b", text
    )
    if status:
        return f"HTTP {status.group(1)}"
    words = " ".join(text.split()[:6])
    return f"{type(exception).__name__}: {words}" if not isinstance(exception, str) else words


class Recorder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[tuple] = []
        self.t0: float | None = None
        self.environment = None

    def on_init(self, environment, **_kwargs) -> None:
        self.environment = environment

    def on_test_start(self, **_kwargs) -> None:
        self.t0 = time.time()

    def on_request(self, request_type, name, response_time, response_length, exception=None, **kw):
        now = time.time()
        if self.t0 is None:
            self.t0 = now
        runner = getattr(self.environment, "runner", None)
        users = runner.user_count if runner is not None else 0
        self.rows.append(
            (
                round(now - self.t0, 3),
                request_type,
                name,
                round(float(response_time or 0.0), 2),
                int(response_length or 0),
                0 if exception else 1,
                users,
                error_kind(exception),
            )
        )

    def write(self, **_kwargs) -> None:
        """Written whole, then renamed into place: once the file exists, it is complete."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(self.rows)
        partial.replace(self.path)


def install(events, path: str | None) -> Recorder | None:
    """Hook a Recorder into Locust's events when `path` is set."""
    if not path:
        return None
    recorder = Recorder(path)
    events.init.add_listener(recorder.on_init)
    events.test_start.add_listener(recorder.on_test_start)
    events.request.add_listener(recorder.on_request)
    events.quitting.add_listener(recorder.write)
    return recorder


def read(path: str | Path) -> list[Sample]:
    """Samples from a CSV written by `Recorder.write`."""
    out = []
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            out.append(
                Sample(
                    t=float(row["t"]),
                    type=row["type"],
                    name=row["name"],
                    ms=float(row["ms"]),
                    bytes=int(row["bytes"]),
                    ok=row["ok"] == "1",
                    users=int(row["users"]),
                    error=row.get("error") or "",
                )
            )
    return out
