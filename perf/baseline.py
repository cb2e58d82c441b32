"""Compare a run's figures with a stored baseline (an earlier run's summary).

`summary.json` carries a flat `figures` mapping ("phase.figure[endpoint]" ->
number). The baseline file is the same mapping from an earlier run. Each
figure's ratio is current / baseline; whether a bigger number is worse
depends on the figure (latency, error rate, seconds: bigger is worse;
throughput and ratios: smaller is worse). A figure worse than its baseline by
more than the tolerance is a regression.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

BASELINE_FILE = Path(__file__).with_name("baseline.json")


def lower_is_better(key: str) -> bool:
    """Latencies (`*_ms`), durations (`*_s`) and error rates: bigger is worse."""
    figure = key.split("[", 1)[0].rsplit(".", 1)[-1]
    return figure.endswith(("_ms", "_s")) or "error_rate" in figure


@dataclass(frozen=True)
class Comparison:
    figure: str
    baseline: float
    current: float
    ratio: float | None
    regression: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare(
    current: Mapping[str, float | None],
    baseline: Mapping[str, float | None],
    tolerance: float,
) -> list[Comparison]:
    """One Comparison per figure present (and numeric) in both mappings, sorted by name."""
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    rows = []
    for key in sorted(set(current) & set(baseline)):
        cur, base = current[key], baseline[key]
        if not isinstance(cur, int | float) or not isinstance(base, int | float):
            continue
        lower = lower_is_better(key)
        if base == 0:
            ratio = None if cur else 1.0
            regression = bool(cur > 0) if lower else False
        else:
            ratio = cur / base
            regression = ratio > 1 + tolerance if lower else ratio < 1 - tolerance
        rows.append(Comparison(key, float(base), float(cur), ratio, regression))
    return rows


def load(path: str | Path = BASELINE_FILE) -> dict[str, float] | None:
    """The baseline's figures, or None when there is no baseline file yet."""
    path = Path(path)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    figures = data.get("figures", data)
    if not isinstance(figures, dict):
        raise ValueError(f"{path}: expected a `figures` mapping")
    return figures


def save(summary: Mapping, path: str | Path = BASELINE_FILE) -> None:
    """Store a run's figures (and where they came from) as the new baseline."""
    data = {"meta": summary.get("meta", {}), "figures": summary["figures"]}
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
