"""The perf baseline: each figure's median and run-to-run spread over several runs.

`summary.json` carries a flat `figures` mapping ("phase.figure[endpoint]" ->
number). `record()` turns the summaries of several runs (on a quiet machine)
into the baseline: per figure the median, the lowest and the highest value
seen, and how many runs had it. `compare()` flags a figure only when the
current value falls outside that measured spread on its worse side (plus an
optional margin, `tolerance`, a fraction of the median): bigger is worse for
latencies, durations and error rates, smaller for throughput and ratios.

    python -m perf.baseline record reports/perf/<ts1> reports/perf/<ts2> reports/perf/<ts3>
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

BASELINE_FILE = Path(__file__).with_name("baseline.json")
MIN_RUNS = 3


def lower_is_better(key: str) -> bool:
    """Latencies (`*_ms`), durations (`*_s`) and errors: bigger is worse.

    Other rates (`*_per_s`) end like durations but are throughputs: bigger is better."""
    figure = key.split("[", 1)[0].rsplit(".", 1)[-1]
    if "error" in figure:
        return True
    return figure.endswith(("_ms", "_s")) and not figure.endswith("_per_s")


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    runs: int


@dataclass(frozen=True)
class Comparison:
    figure: str
    baseline: float  # the median
    low: float
    high: float
    current: float
    ratio: float | None  # current / median
    regression: bool

    def to_dict(self) -> dict:
        return asdict(self)


def record(summaries: Sequence[Mapping]) -> dict:
    """The baseline document from several runs' summaries."""
    if len(summaries) < MIN_RUNS:
        raise ValueError(f"a baseline needs at least {MIN_RUNS} runs to measure a spread")
    values: dict[str, list[float]] = {}
    for summary in summaries:
        for key, value in summary["figures"].items():
            if isinstance(value, int | float):
                values.setdefault(key, []).append(float(value))
    figures = {
        key: asdict(Spread(statistics.median(v), min(v), max(v), len(v)))
        for key, v in sorted(values.items())
        if len(v) >= MIN_RUNS
    }
    meta = [s.get("meta", {}) for s in summaries]
    return {
        "meta": {"runs": [{k: m.get(k) for k in ("timestamp", "git", "shape")} for m in meta]},
        "figures": figures,
    }


def compare(
    current: Mapping[str, float | None], baseline: Mapping[str, Spread], tolerance: float = 0.0
) -> list[Comparison]:
    """One Comparison per figure present (and numeric) in both, sorted by name."""
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    rows = []
    for key in sorted(set(current) & set(baseline)):
        cur, spread = current[key], baseline[key]
        if not isinstance(cur, int | float):
            continue
        margin = tolerance * abs(spread.median)
        if lower_is_better(key):
            regression = cur > spread.high + margin
        else:
            regression = cur < spread.low - margin
        ratio = cur / spread.median if spread.median else None
        rows.append(Comparison(key, spread.median, spread.low, spread.high, float(cur), ratio,
                               regression))  # fmt: skip
    return rows


def load(path: str | Path = BASELINE_FILE) -> dict[str, Spread] | None:
    """The baseline's spreads, or None when there is no baseline file yet."""
    path = Path(path)
    if not path.exists():
        return None
    figures = json.loads(path.read_text()).get("figures")
    if not isinstance(figures, dict):
        raise ValueError(f"{path}: expected a `figures` mapping")
    try:
        return {key: Spread(**value) for key, value in figures.items()}
    except TypeError as exc:
        raise ValueError(
            f"{path}: each figure needs median, low, high and runs; record it again with "
            "`python -m perf.baseline record <run dirs>`"
        ) from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m perf.baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["record"])
    parser.add_argument("runs", nargs="+", type=Path, help="report folders of `nox -s perf` runs")
    parser.add_argument("--out", type=Path, default=BASELINE_FILE)
    args = parser.parse_args(argv)
    summaries = [json.loads((run / "summary.json").read_text()) for run in args.runs]
    try:
        document = record(summaries)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"{args.out}: {len(document['figures'])} figures from {len(summaries)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
