"""Service level objectives: load perf/slo.yaml, check figures against it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from perf.summary import AGGREGATED, SETUP_NAMES

SLO_FILE = Path(__file__).with_name("slo.yaml")


@dataclass(frozen=True)
class Slo:
    p95_ms: Mapping[str, float]
    error_rate: float
    endpoint_error_rate: float
    required: tuple[str, ...] = ()
    tolerance: float = 0.0
    fail_on_regression: bool = False
    # An endpoint's own p95/error rate is judged once it has this many requests.
    min_samples: int = 20

    def p95_limit(self, name: str) -> float:
        return float(self.p95_ms.get(name, self.p95_ms["default"]))


@dataclass(frozen=True)
class Violation:
    endpoint: str
    figure: str
    actual: float
    limit: float

    def __str__(self) -> str:
        if self.figure == "p95_ms":
            return f"{self.endpoint}: p95 {self.actual:.0f} ms > SLO {self.limit:.0f} ms"
        if self.figure == "requests":
            return f"{self.endpoint}: no requests (the scenario must exercise it)"
        return (
            f"{self.endpoint}: {self.figure} {self.actual:.2%} > SLO {self.limit:.2%}"
            if "rate" in self.figure
            else f"{self.endpoint}: {self.figure} {self.actual} > SLO {self.limit}"
        )


@dataclass
class SloError(ValueError):
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "invalid SLO file: " + "; ".join(self.problems)


def load(path: str | Path = SLO_FILE) -> Slo:
    data = yaml.safe_load(Path(path).read_text()) or {}
    problems = []
    p95 = data.get("p95_ms")
    if not isinstance(p95, dict):
        problems.append("p95_ms must be a mapping of request name -> milliseconds")
        p95 = {}
    if "default" not in p95:
        problems.append("p95_ms needs a `default` entry (for endpoints not listed)")
    for name, value in p95.items():
        if not isinstance(value, int | float) or value <= 0:
            problems.append(f"p95_ms[{name!r}] must be a positive number of milliseconds")
    rates = {}
    for key in ("error_rate", "endpoint_error_rate"):
        value = data.get(key)
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            problems.append(f"{key} must be a fraction between 0 and 1")
            value = 0.0
        rates[key] = float(value)
    baseline = data.get("baseline") or {}
    tolerance = baseline.get("tolerance", 0.0)
    if not isinstance(tolerance, int | float) or tolerance < 0:
        problems.append("baseline.tolerance must be a non-negative fraction")
    required = data.get("required") or []
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append("required must be a list of request names")
        required = []
    min_samples = data.get("min_samples", 20)
    if not isinstance(min_samples, int) or min_samples < 1:
        problems.append("min_samples must be a positive integer")
    if problems:
        raise SloError(problems)
    return Slo(
        min_samples=min_samples,
        p95_ms=p95,
        error_rate=rates["error_rate"],
        endpoint_error_rate=rates["endpoint_error_rate"],
        required=tuple(required),
        tolerance=float(tolerance),
        fail_on_regression=bool(baseline.get("fail_on_regression", False)),
    )


def check(
    endpoints: Mapping[str, Mapping],
    slo: Slo,
    *,
    require: bool = True,
    min_samples: int | None = None,
) -> list[Violation]:
    """Violations of `slo` by per-endpoint figures (as built by summary.endpoint_stats).

    Endpoints with fewer than `min_samples` requests (default: the SLO file's
    `min_samples`) are not judged on their own (a p95 of a dozen samples is
    their maximum); they still count in the aggregated error rate, and
    `required` endpoints must still have been called.
    """
    if min_samples is None:
        min_samples = slo.min_samples
    out: list[Violation] = []
    for name, fig in endpoints.items():
        if name == AGGREGATED or fig.get("requests", 0) < min_samples:
            continue
        p95 = fig.get("p95_ms")
        if p95 is not None and p95 > slo.p95_limit(name):
            out.append(Violation(name, "p95_ms", p95, slo.p95_limit(name)))
        if fig.get("requests") and fig["error_rate"] > slo.endpoint_error_rate:
            out.append(Violation(name, "error_rate", fig["error_rate"], slo.endpoint_error_rate))
    total = endpoints.get(AGGREGATED)
    if total and total.get("requests") and total["error_rate"] > slo.error_rate:
        out.append(Violation(AGGREGATED, "error_rate", total["error_rate"], slo.error_rate))
    if require:
        for name in slo.required:
            if not endpoints.get(name, {}).get("requests"):
                out.append(Violation(name, "requests", 0, 1))
    return out


STAGE_MIN_SAMPLES = 10


def sustained(
    stages: Sequence[Mapping], slo: Slo, min_samples: int = STAGE_MIN_SAMPLES
) -> dict | None:
    """The stage with the highest throughput whose steady state met the SLO.

    Per-endpoint figures count when the endpoint had >= `min_samples` requests
    in the stage's window.

    Returns {"users", "rps", "p95_ms", "p99_ms", "error_rate"} of that stage
    (Aggregated, sign-up/sign-in excluded), or None when no stage met it.
    """
    best = None
    for stage in stages:
        endpoints = stage["endpoints"]
        total = endpoints.get(AGGREGATED) or {}
        if not total.get("requests"):
            continue
        steady = {k: v for k, v in endpoints.items() if k not in SETUP_NAMES}
        if check(steady, slo, require=False, min_samples=min_samples):
            continue
        if best is None or total["rps"] > best["rps"]:
            best = {
                "users": stage["users"],
                "rps": total["rps"],
                "p95_ms": total["p95_ms"],
                "p99_ms": total["p99_ms"],
                "error_rate": total["error_rate"],
            }
    return best
