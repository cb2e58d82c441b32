"""PNG plots of a perf run (matplotlib, no display needed)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency(timeline: list[dict], path: Path, title: str) -> Path:
    """p50/p95/p99 per time bucket, users on a second axis."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = [row["t"] for row in timeline]
    for key, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
        ax.plot(t, [row[key] for row in timeline], style, label=key.replace("_ms", ""))
    ax.set_xlabel("seconds")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    users = ax.twinx()
    users.step(t, [row["users"] or 0 for row in timeline], where="post", color="grey", alpha=0.5)
    users.set_ylabel("users", color="grey")
    ax.legend(loc="upper left")
    return _save(fig, path)


def throughput(timeline: list[dict], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = [row["t"] for row in timeline]
    ax.plot(t, [row["rps"] for row in timeline], label="requests/s")
    ax.plot(t, [row["errors_per_s"] for row in timeline], color="red", label="failures/s")
    ax.set_xlabel("seconds")
    ax.set_ylabel("per second")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def replicas_cpu(rows: list[dict], path: Path, title: str) -> Path:
    """MCP server replicas (ready, HPA desired) and per-pod CPU over time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    t = [row["t"] for row in rows]
    ready = [((row.get("deployments") or {}).get("mcp-server") or {}).get("ready") for row in rows]
    top.step(t, ready, where="post", label="mcp-server ready replicas")
    desired = [(row.get("hpa") or {}).get("desired") for row in rows]
    if any(d is not None for d in desired):
        top.step(t, desired, where="post", linestyle="--", label="HPA desired")
    top.set_ylabel("replicas")
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    top.set_title(title)
    per_pod: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        for pod in row.get("pods") or []:
            per_pod[f"{pod['component']}/{pod['pod'][-5:]}"].append((row["t"], pod["cpu_m"]))
    for name, points in sorted(per_pod.items()):
        bottom.plot([p[0] for p in points], [p[1] for p in points], label=name)
    bottom.set_ylabel("CPU (millicores)")
    bottom.set_xlabel("seconds")
    bottom.grid(alpha=0.3)
    if per_pod:
        bottom.legend(loc="upper left", fontsize="small", ncol=2)
    return _save(fig, path)


def capacity(runs: dict[str, list[dict]], path: Path) -> Path:
    """Per-step throughput and p95 for each capacity run (e.g. 1 vs 3 MCP replicas)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for label, stages in runs.items():
        users = [s["users"] for s in stages]
        left.plot(users, [s["endpoints"]["Aggregated"]["rps"] for s in stages], "o-", label=label)
        right.plot(
            users, [s["endpoints"]["Aggregated"]["p95_ms"] for s in stages], "o-", label=label
        )
    left.set_xlabel("users")
    left.set_ylabel("requests/s (steady state)")
    right.set_xlabel("users")
    right.set_ylabel("p95 (ms)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)
