"""Figures from request samples: per endpoint, per time bucket, per load step.

Pure functions over `perf.samples.Sample` lists (no Locust, no cluster), so
they are unit-tested directly. Percentiles are exact (nearest rank) over the
samples in the window, not Locust's rounded histogram buckets.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from perf.samples import Sample
from perf.shapes import Stage

AGGREGATED = "Aggregated"
# Sign-up and sign-in happen once per simulated user, when it starts: they are
# reported, but the steady-state figures (per step, sustained req/s) leave them out.
SETUP_NAMES = frozenset({"POST /api/v1/users", "POST /api/v1/auth/token", "mcp:connect"})


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending sequence; None if empty."""
    if not sorted_values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _figures(values: list[float], errors: dict[str, int], seconds: float) -> dict:
    values.sort()
    count = len(values)
    failures = sum(errors.values())
    return {
        "requests": count,
        "failures": failures,
        "errors_by_kind": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        "error_rate": failures / count if count else 0.0,
        "rps": count / seconds if seconds > 0 else 0.0,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "mean_ms": sum(values) / count if count else None,
        "max_ms": values[-1] if values else None,
    }


def endpoint_stats(
    samples: Iterable[Sample],
    start: float | None = None,
    end: float | None = None,
    *,
    exclude: frozenset[str] = frozenset(),
) -> dict[str, dict]:
    """{name: figures} for samples with start <= t < end, plus an `Aggregated` row.

    The window's length (for req/s) is end - start when both are given, else
    the span of the samples themselves.
    """
    chosen = [
        s
        for s in samples
        if (start is None or s.t >= start) and (end is None or s.t < end) and s.name not in exclude
    ]
    if start is not None and end is not None:
        seconds = end - start
    elif chosen:
        seconds = max(s.t for s in chosen) - min(s.t for s in chosen)
        seconds = max(seconds, 1.0)
    else:
        seconds = 0.0
    by_name: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in chosen:
        by_name[s.name].append(s.ms)
        if not s.ok:
            errors[s.name][s.error or "unknown"] += 1
    out = {name: _figures(list(v), errors[name], seconds) for name, v in sorted(by_name.items())}
    every: dict[str, int] = defaultdict(int)
    for kinds in errors.values():
        for kind, n in kinds.items():
            every[kind] += n
    out[AGGREGATED] = _figures([s.ms for s in chosen], every, seconds)
    return out


def timeline(samples: Sequence[Sample], bucket: float = 5.0) -> list[dict]:
    """Throughput, latency percentiles, errors and users per `bucket` seconds."""
    if bucket <= 0:
        raise ValueError("bucket must be > 0")
    if not samples:
        return []
    groups: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[int(s.t // bucket)].append(s)
    rows = []
    for index in range(0, max(groups) + 1):
        group = groups.get(index, [])
        times = sorted(s.ms for s in group)
        rows.append(
            {
                "t": index * bucket,
                "rps": len(group) / bucket,
                "errors_per_s": sum(1 for s in group if not s.ok) / bucket,
                "p50_ms": percentile(times, 50),
                "p95_ms": percentile(times, 95),
                "p99_ms": percentile(times, 99),
                "users": max((s.users for s in group), default=None),
            }
        )
    return rows


def stage_stats(
    samples: Sequence[Sample], stages: Sequence[Stage], warmup: float = 5.0
) -> list[dict]:
    """Steady-state figures per stage, skipping the first `warmup` s of each stage."""
    out = []
    for stage in stages:
        start = min(stage.start + warmup, stage.end)
        if stage.end - start < 1.0:
            continue
        stats = endpoint_stats(samples, start, stage.end, exclude=SETUP_NAMES)
        out.append(
            {
                "users": stage.users,
                "start": stage.start,
                "end": stage.end,
                "window": [start, stage.end],
                "endpoints": stats,
            }
        )
    return out
