"""The e2e run's plots, from its recorded results: startup, HPA, resources, rollouts.

Each function takes the figures as the tests recorded them (e2e-results.json)
and returns a `report.model.Figure` (inline SVG), or None when there is
nothing to draw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from matplotlib.patches import Rectangle

from report import plots
from report.model import Figure

# The steps of a pod's start, in order: (label, where its end is recorded).
STARTUP_STEPS = (
    ("waiting for a node", "PodScheduled"),
    ("sandbox and network", "PodReadyToStartContainers"),
    ("init containers", "Initialized"),
    ("image", "image_pulled_s"),
    ("container start", "started_s"),
    ("until Ready", "Ready"),
)
STEP_COLOURS = ("#999999", "#56B4E9", "#CC79A7", "#E69F00", "#0072B2", "#009E73")


def _ends(pod: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(step, start, end) in seconds after the pod's creation; each step begins where the
    one before ended (condition times are whole seconds, so some steps take none)."""
    steps = pod.get("steps_s") or {}
    out, at = [], 0.0
    for (label, key), _ in zip(STARTUP_STEPS, STEP_COLOURS, strict=True):
        end = pod.get(key) if key.endswith("_s") else steps.get(key)
        if key == "Ready" and end is None:
            end = pod.get("seconds")
        if end is None:
            continue
        end = max(float(end), at)
        out.append((label, at, end))
        at = end
    return out


def _created(pod: dict[str, Any]) -> float | None:
    """Unix time the pod was created: recorded, or its Ready time less its startup."""
    if pod.get("created"):
        return datetime.fromisoformat(pod["created"]).timestamp()
    if pod.get("ready_at"):
        return datetime.fromisoformat(pod["ready_at"]).timestamp() - float(pod["seconds"])
    return None


def startup_waterfall(pods: list[dict[str, Any]]) -> Figure | None:
    """Per pod, from its creation: scheduled, sandbox, init containers, image, started,
    Ready; the pods placed at the time each was created."""
    if not pods:
        return None
    created = {p["pod"]: _created(p) for p in pods}
    known = [t for t in created.values() if t is not None]
    first = min(known) if known else 0.0
    order = sorted(pods, key=lambda p: (created[p["pod"]] or first, p["pod"]))
    fig, ax = plots.figure(width=9.5, height=0.9 + 0.32 * len(order))
    colours = dict(zip((label for label, _ in STARTUP_STEPS), STEP_COLOURS, strict=True))
    used = []
    for row, pod in enumerate(order):
        offset = (created[pod["pod"]] or first) - first
        for label, start, end in _ends(pod):
            ax.barh(
                row, max(end - start, 0.08), left=offset + start, height=0.6, color=colours[label]
            )
            if label not in used:
                used.append(label)
        ax.text(
            offset + float(pod["seconds"]) + 0.15,
            row,
            f"{float(pod['seconds']):.1f} s",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(order)), [f"{p['pod']} ({p.get('component')})" for p in order])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("seconds after the first pod was created")
    labels = [label for label, _ in STARTUP_STEPS if label in used]
    ax.legend(
        [Rectangle((0, 0), 1, 1, color=colours[label]) for label in labels],
        labels,
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncol=min(len(labels), 3),
    )
    return plots.make(
        "startup",
        "Pod startup waterfall",
        fig,
        "Each pod from created to Ready; Kubernetes records these times in whole "
        "seconds, so a step under a second may show as none.",
    )


def hpa(samples: list[dict[str, Any]], summary: dict[str, Any]) -> Figure | None:
    """Load, CPU against the target, replicas and Ready pods on one time axis."""
    if not samples:
        return None
    t = [s["t"] for s in samples]
    fig, (load, cpu, replicas) = plots.figure(3, 1, width=9.5, height=6.6, sharex=True)
    rps = [(s["t"], s["rps"], s.get("fail_rps") or 0) for s in samples if s.get("rps") is not None]
    if rps:
        load.plot(
            [r[0] for r in rps],
            [r[1] for r in rps],
            color=plots.COLOURS["request"],
            label="requests/s",
        )
        load.plot(
            [r[0] for r in rps],
            [r[2] for r in rps],
            color=plots.COLOURS["failed"],
            label="failures/s",
        )
        load.legend(loc="upper right")
    load.set_ylabel("load (Locust)")
    points = [(s["t"], s["cpu_percent"]) for s in samples if s.get("cpu_percent") is not None]
    if points:
        cpu.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=plots.COLOURS["limit"],
            label="average CPU",
        )
    target = summary.get("target_cpu_percent")
    if target:
        cpu.axhline(target, color="grey", linestyle=":", label=f"target {target}%")
    if points or target:
        cpu.legend(loc="upper right")
    cpu.set_ylabel("CPU % of request")
    replicas.step(t, [s["replicas"] for s in samples], where="post", label="desired")
    replicas.step(t, [s["ready"] for s in samples], where="post", linestyle="--", label="Ready")
    replicas.set_ylim(0, (summary.get("max_replicas") or 3) + 1)
    replicas.set_ylabel("MCP replicas")
    replicas.set_xlabel("seconds since the load started")
    replicas.legend(loc="upper right")
    stop = summary.get("load_seconds")
    if stop:
        for ax in (load, cpu, replicas):
            ax.axvline(stop, color="black", linewidth=0.8, linestyle="--")
    return plots.make(
        "hpa",
        "The MCP server's HPA under Locust load",
        fig,
        "Dashed vertical line: the load stops.",
    )


def component_of(key: str, by_component: dict[str, Any]) -> str | None:
    """The component a `pod/container` key belongs to (its pod name holds `-<component>-`)."""
    pod = key.split("/")[0]
    return next((c for c in by_component if f"-{c}-" in pod), None)


def resources(idle: dict[str, Any], load: dict[str, Any]) -> Figure | None:
    """Per container: idle and loaded peaks next to its request and limit, CPU and memory."""
    peaks_idle, peaks_load = idle.get("peaks") or {}, load.get("peaks") or {}
    keys = sorted(set(peaks_idle) | set(peaks_load))
    if not keys:
        return None
    spec = load or idle
    limits, requests = spec.get("limits") or {}, spec.get("requests") or {}
    fig, axes = plots.figure(1, 2, width=9.5, height=1.2 + 0.36 * len(keys), sharey=True)
    for ax, metric, unit in (
        (axes[0], "cpu_m", "CPU (millicores)"),
        (axes[1], "mem_mi", "memory (MiB)"),
    ):
        for row, key in enumerate(keys):
            component = component_of(key, limits or requests)
            for offset, peaks, colour, label in (
                (-0.18, peaks_idle, "#56B4E9", "idle peak"),
                (0.18, peaks_load, "#0072B2", "load peak"),
            ):
                value = (peaks.get(key) or {}).get(metric)
                if value is not None:
                    ax.barh(
                        row + offset,
                        value,
                        height=0.34,
                        color=colour,
                        label=label if row == 0 else None,
                    )
            for spec_of, marker, colour, label in (
                (requests, "|", "#000000", "request"),
                (limits, "|", plots.COLOURS["limit"], "limit"),
            ):
                value = ((spec_of.get(component) or {}) if component else {}).get(metric)
                if value is not None:
                    ax.plot(
                        [value],
                        [row],
                        marker=marker,
                        markersize=16,
                        markeredgewidth=2.5,
                        color=colour,
                        linestyle="none",
                        label=label if row == 0 else None,
                    )
        ax.set_xlabel(unit)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(left=0)
    axes[0].set_yticks(range(len(keys)), keys)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(labels))
    return plots.make(
        "resources",
        "Resources against requests and limits",
        fig,
        "Bars: metrics-server's peaks, idle and under the load run; black mark: "
        "the request, red mark: the limit.",
    )


def requests_with_gaps(steps: list[dict[str, Any]], gap: float = 1.0) -> Figure | None:
    """Each step's requests over time (latency of each success, a mark per failure), with
    every stretch of more than `gap` seconds without a success shaded."""
    drawn = [s for s in steps if s.get("requests_over_time")]
    if not drawn:
        return None
    fig, axes = plots.figure(len(drawn), 1, width=9.5, height=0.6 + 1.7 * len(drawn), squeeze=False)
    for ax, step in zip(axes[:, 0], drawn, strict=True):
        points = step["requests_over_time"]
        ok = [(t, ms) for t, status, ms in points if str(status) in ("200", "201")]
        bad = [(t, status) for t, status, _ in points if str(status) not in ("200", "201")]
        top = max([ms for _, ms in ok] or [10.0])
        ax.scatter(
            [p[0] for p in ok],
            [p[1] for p in ok],
            s=4,
            color=plots.COLOURS["ok"],
            label="acknowledged (latency)",
        )
        if bad:
            ax.scatter(
                [p[0] for p in bad],
                [top * 1.05] * len(bad),
                marker="x",
                s=18,
                color=plots.COLOURS["failed"],
                label="failed",
            )
        last = 0.0
        for t, _ in [*ok, (points[-1][0], 0.0)]:
            if t - last > gap:
                ax.axvspan(last, t, color=plots.COLOURS["failed"], alpha=0.15, linewidth=0)
            last = t
        ax.set_title(
            f"{step['step']}: {step.get('requests')} requests, {step.get('failed')} "
            f"failed, longest gap {step.get('longest_gap_s')} s",
            loc="left",
        )
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
    axes[-1, 0].set_xlabel("seconds since the step started")
    return plots.make(
        "rollouts",
        "Requests during each rollout",
        fig,
        f"Shaded: more than {gap:.0f} s without an acknowledged write.",
    )
