"""Figures from request samples: percentiles, windows, timelines, steps; the samples CSV."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from perf import samples, summary
from perf.samples import Sample
from perf.shapes import Stage


def s(t, name="GET /x", ms=10.0, ok=True, users=1):
    return Sample(t=t, type="GET", name=name, ms=ms, bytes=1, ok=ok, users=users)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert summary.percentile(values, 50) == 50
    assert summary.percentile(values, 95) == 95
    assert summary.percentile(values, 99) == 99
    assert summary.percentile(values, 100) == 100
    assert summary.percentile([7.0], 99) == 7.0
    assert summary.percentile([], 50) is None
    with pytest.raises(ValueError):
        summary.percentile(values, 101)


def test_endpoint_stats_per_name_and_aggregated():
    data = [s(t, "A", ms=t + 1) for t in range(10)]
    data += [s(t, "B", ms=100, ok=t % 2 == 0) for t in range(4)]
    stats = summary.endpoint_stats(data, 0, 10)
    assert stats["A"]["requests"] == 10 and stats["A"]["rps"] == 1.0
    assert stats["A"]["p50_ms"] == 5 and stats["A"]["p95_ms"] == 10 and stats["A"]["max_ms"] == 10
    assert stats["B"]["failures"] == 2 and stats["B"]["error_rate"] == 0.5
    agg = stats[summary.AGGREGATED]
    assert agg["requests"] == 14 and agg["failures"] == 2
    assert agg["rps"] == pytest.approx(1.4)


def test_endpoint_stats_window_and_exclusions():
    data = [s(t) for t in range(20)] + [s(1, "POST /api/v1/users", ms=900)]
    stats = summary.endpoint_stats(data, 5, 15, exclude=summary.SETUP_NAMES)
    assert stats["GET /x"]["requests"] == 10
    assert "POST /api/v1/users" not in stats
    assert summary.endpoint_stats([], 0, 10)[summary.AGGREGATED]["requests"] == 0


def test_timeline_buckets_include_empty_ones():
    data = [s(0.5, ms=10), s(1.0, ms=30, ok=False, users=3), s(11.0, ms=20, users=5)]
    rows = summary.timeline(data, bucket=5)
    assert [r["t"] for r in rows] == [0, 5, 10]
    assert rows[0]["rps"] == pytest.approx(0.4) and rows[0]["errors_per_s"] == pytest.approx(0.2)
    assert rows[0]["p95_ms"] == 30 and rows[0]["users"] == 3
    assert rows[1]["rps"] == 0 and rows[1]["p95_ms"] is None
    assert rows[2]["users"] == 5
    assert summary.timeline([]) == []


def test_stage_stats_skip_warmup_and_setup_calls():
    data = [s(t, ms=1000 if t < 5 else 10) for t in range(10)] + [s(6, "mcp:connect", ms=5000)]
    (stage,) = summary.stage_stats(data, [Stage(0, 10, 4)], warmup=5)
    assert stage["users"] == 4 and stage["window"] == [5, 10]
    assert stage["endpoints"]["GET /x"]["p95_ms"] == 10
    assert "mcp:connect" not in stage["endpoints"]


def test_recorder_writes_samples_that_read_back(tmp_path):
    events = SimpleNamespace(
        init=SimpleNamespace(add_listener=lambda f: setattr(events, "init_cb", f)),
        test_start=SimpleNamespace(add_listener=lambda f: setattr(events, "start_cb", f)),
        request=SimpleNamespace(add_listener=lambda f: setattr(events, "request_cb", f)),
        quitting=SimpleNamespace(add_listener=lambda f: setattr(events, "quit_cb", f)),
    )
    path = tmp_path / "s.csv"
    recorder = samples.install(events, str(path))
    events.init_cb(environment=SimpleNamespace(runner=SimpleNamespace(user_count=4)))
    events.start_cb()
    events.request_cb("POST", "POST /api/v1/tasks", 12.345, 99, exception=None, context={})
    events.request_cb("MCP", "mcp:add_task", 40.0, 0, exception=RuntimeError("x"))
    events.quit_cb()
    got = samples.read(path)
    assert [(g.name, g.ok, g.users) for g in got] == [
        ("POST /api/v1/tasks", True, 4),
        ("mcp:add_task", False, 4),
    ]
    assert got[0].ms == pytest.approx(12.35) and got[0].bytes == 99
    assert len(recorder.rows) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]
    assert samples.install(events, None) is None


def test_samples_file_appears_only_once_complete(tmp_path, monkeypatch):
    """A worker is judged done when its samples file exists: a write cut short leaves none."""
    recorder = samples.Recorder(tmp_path / "s.csv")
    recorder.rows = [[0.0, "POST", "x", 1.0, 0, 1, 1]]

    class CutShort:
        def __init__(self, fh):
            self.fh = fh

        def writerow(self, row):
            self.fh.write(",".join(map(str, row)) + "\n")

        def writerows(self, rows):
            raise OSError("disk full")

    monkeypatch.setattr(samples.csv, "writer", CutShort)
    with pytest.raises(OSError):
        recorder.write()
    assert not (tmp_path / "s.csv").exists()


def test_parse_pgbench_summary():
    from perf.ceiling import parse_pgbench

    out = (
        "transaction type: -\nnumber of clients: 4\nnumber of failed transactions: 0 (0.000%)\n"
        "latency average = 1.234 ms\ninitial connection time = 5.1 ms\n"
        "tps = 3210.987654 (without initial connection time)\n"
    )
    assert parse_pgbench(out) == {"ops_per_s": 3210.987654, "mean_ms": 1.234, "errors": 0}
    with pytest.raises(ValueError, match="no tps"):
        parse_pgbench("connection refused")


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("503 Server Error: Service Unavailable for url: /api/v1/tasks", "HTTP 503"),
        ("create: status 409, wanted 201", "HTTP 409"),
        (ConnectionResetError(104, "Connection reset by peer"),
         "ConnectionResetError: [Errno 104] Connection reset by peer"),
        ("HTTPError('503 Server Error: Service Unavailable for url: http://x/')", "HTTP 503"),
        ("ConnectionError('Remote end closed connection without response')",
         "ConnectionError: Remote end closed connection without response"),
        (None, ""),
    ],
)  # fmt: skip
def test_a_failure_is_counted_by_its_kind(failure, kind) -> None:
    assert samples.error_kind(failure) == kind


def test_an_endpoints_errors_are_counted_by_kind_not_only_as_a_number() -> None:
    recorded = [
        samples.Sample(0.1, "POST", "/t", 5.0, 10, False, 1, "HTTP 503"),
        samples.Sample(0.2, "POST", "/t", 5.0, 10, False, 1, "HTTP 503"),
        samples.Sample(0.3, "POST", "/t", 5.0, 10, False, 1, "ReadTimeout: timed out"),
        samples.Sample(0.4, "GET", "/u", 5.0, 10, True, 1),
    ]
    stats = summary.endpoint_stats(recorded)
    assert stats["/t"]["failures"] == 3
    assert stats["/t"]["errors_by_kind"] == {"HTTP 503": 2, "ReadTimeout: timed out": 1}
    assert stats[summary.AGGREGATED]["errors_by_kind"] == stats["/t"]["errors_by_kind"]
    assert stats["/u"]["errors_by_kind"] == {}
