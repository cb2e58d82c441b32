"""A perf run's plots as inline SVG (report.plots): per-endpoint latency and throughput over
time, the MCP server's replicas and CPU, the capacity steps, the baseline's noise band."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from matplotlib.ticker import MaxNLocator

from perf.summary import AGGREGATED
from report import plots
from report.model import Figure


def _grid(count: int, cols: int = 3):
    rows = math.ceil(count / cols)
    fig, axes = plots.figure(
        rows, cols, width=10.0, height=0.4 + 2.0 * rows, sharex=True, squeeze=False
    )
    flat = list(axes.flat)
    for ax in flat:  # few ticks: many small charts, each read at a glance
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(4))
    for ax in flat[count:]:
        ax.set_visible(False)
    for ax in flat[count - cols if count >= cols else 0 : count]:
        ax.set_xlabel("seconds")
    return fig, flat[:count]


def latency(
    per_endpoint: dict[str, list[dict]], limit: Callable[[str], float | None], phase: str = "main"
) -> Figure | None:
    """p50/p95/p99 per endpoint over time (5 s buckets), each with its p95 SLO."""
    if not per_endpoint:
        return None
    fig, axes = _grid(len(per_endpoint))
    for ax, (name, rows) in zip(axes, per_endpoint.items(), strict=True):
        t = [r["t"] for r in rows]
        for key, style in (("p50_ms", "-"), ("p95_ms", "-"), ("p99_ms", ":")):
            ax.plot(
                t,
                [r[key] for r in rows],
                style,
                linewidth=1.2 if key == "p95_ms" else 0.9,
                label=key.removesuffix("_ms"),
            )
        slo = limit(name)
        if slo:
            ax.axhline(
                slo, color=plots.COLOURS["limit"], linestyle="--", linewidth=0.9, label="p95 SLO"
            )
        ax.set_title(name, loc="left", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("ms")
    axes[0].legend(loc="upper right")
    return plots.make(
        f"{phase}-latency",
        f"{phase}: latency per endpoint",
        fig,
        "p50, p95 and p99 of each 5 s, exact over the recorded requests; dashed "
        "red: the endpoint's p95 SLO.",
    )


def throughput(per_endpoint: dict[str, list[dict]], phase: str = "main") -> Figure | None:
    """Requests and failures per second per endpoint, the users on the first chart."""
    if not per_endpoint:
        return None
    fig, axes = _grid(len(per_endpoint))
    for ax, (name, rows) in zip(axes, per_endpoint.items(), strict=True):
        t = [r["t"] for r in rows]
        ax.plot(t, [r["rps"] for r in rows], color=plots.COLOURS["request"], label="req/s")
        ax.plot(
            t, [r["errors_per_s"] for r in rows], color=plots.COLOURS["failed"], label="failures/s"
        )
        if name == AGGREGATED:
            users = ax.twinx()
            users.step(t, [r["users"] or 0 for r in rows], where="post", color="grey", alpha=0.6)
            users.set_ylabel("users", color="grey")
            users.grid(False)
        ax.set_title(name, loc="left", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("per second")
    axes[0].legend(loc="upper left")
    return plots.make(
        f"{phase}-throughput",
        f"{phase}: throughput per endpoint",
        fig,
        "Requests and failures per second in each 5 s; grey: the users running.",
    )


def replicas_cpu(rows: list[dict], phase: str = "main") -> Figure | None:
    """MCP server replicas (Ready, the HPA's desired) and each pod's CPU over time."""
    if not rows:
        return None
    fig, (top, bottom) = plots.figure(2, 1, width=9.5, height=5.2, sharex=True)
    t = [row["t"] for row in rows]
    ready = [((row.get("deployments") or {}).get("mcp-server") or {}).get("ready") for row in rows]
    top.step(t, ready, where="post", label="MCP server Ready replicas")
    desired = [(row.get("hpa") or {}).get("desired") for row in rows]
    if any(d is not None for d in desired):
        top.step(t, desired, where="post", linestyle="--", label="HPA desired")
    top.set_ylabel("replicas")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left")
    per_pod: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        for pod in row.get("pods") or []:
            per_pod[f"{pod['component']}/{pod['pod'][-5:]}"].append((row["t"], pod["cpu_m"]))
    for name, points in sorted(per_pod.items()):
        bottom.plot([p[0] for p in points], [p[1] for p in points], label=name)
    bottom.set_ylabel("CPU (millicores)")
    bottom.set_xlabel("seconds into the phase")
    if per_pod:
        bottom.legend(loc="upper left", ncol=3)
    return plots.make(
        f"{phase}-replicas-cpu", f"{phase}: the MCP server's replicas and each pod's CPU", fig
    )


def capacity(runs: dict[str, list[dict]]) -> Figure | None:
    """Per-step throughput and p95 of each capacity run (e.g. 1 against 3 MCP replicas)."""
    if not any(runs.values()):
        return None
    fig, (left, right) = plots.figure(1, 2, width=9.5, height=3.6)
    for label, stages in runs.items():
        users = [s["users"] for s in stages]
        left.plot(users, [s["endpoints"][AGGREGATED]["rps"] for s in stages], "o-", label=label)
        right.plot(users, [s["endpoints"][AGGREGATED]["p95_ms"] for s in stages], "o-", label=label)
    left.set_xlabel("users")
    left.set_ylabel("requests/s (steady state)")
    right.set_xlabel("users")
    right.set_ylabel("p95 (ms)")
    left.legend()
    return plots.make(
        "capacity",
        "Capacity steps",
        fig,
        "Each step's steady state (its first seconds and sign-ups left out).",
    )


def baseline(comparisons: list[dict], tolerance: float) -> Figure | None:
    """Each figure as a share of the baseline's median: the spread of the baseline's runs
    (the noise band, widened by the tolerance) and this run's value."""
    shown = [c for c in comparisons if c.get("baseline")]
    if not shown:
        return None
    fig, ax = plots.figure(width=9.5, height=0.8 + 0.26 * len(shown))
    lowest, highest = 0.1, 10.0  # ratios beyond are drawn at the edge, their value labelled
    for row, c in enumerate(shown):
        low = max(c["low"] / c["baseline"] - tolerance, lowest)
        high = min(c["high"] / c["baseline"] + tolerance, highest)
        ax.barh(row, high - low, left=low, height=0.55, color="#BBBBBB")
        ratio = c["current"] / c["baseline"]
        shown_at = min(max(ratio, lowest), highest)
        ax.plot(
            [shown_at],
            [row],
            "o",
            color=plots.COLOURS["failed"] if c["regression"] else plots.COLOURS["ok"],
        )
        if shown_at != ratio:
            ax.annotate(
                f"{ratio:.3g}",
                (shown_at, row),
                xytext=(-4 if ratio > 1 else 4, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                ha="right" if ratio > 1 else "left",
            )
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(shown)), [c["figure"] for c in shown], fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ticks = [0.1, 0.25, 0.5, 1, 2, 4, 10]
    ax.set_xticks(ticks, [f"×{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(lowest / 1.15, highest * 1.15)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("this run / the baseline's median (log scale)")
    return plots.make(
        "baseline",
        "Against the baseline",
        fig,
        "Grey: the spread the baseline's runs measured (plus the tolerance); "
        "dot: this run, red when flagged as a regression.",
    )
