"""One Locust run against the NodePort, sampled: the HPA timeline and usage under load.

`run_hpa_load()` starts Locust headless in its own process (e2e/locustfile.py,
against 127.0.0.1:30080), samples every SAMPLE_SECONDS the MCP Deployment's
replicas, the HPA's CPU utilisation and metrics-server's per-pod figures,
stops the load once the HPA has held its maximum for HOLD_SECONDS (or after
MAX_LOAD_SECONDS), then keeps sampling until the replicas are back at the
minimum (or COOLDOWN_SECONDS pass). Locust's per-second request rate is merged
into the timeline from its stats-history CSV.
"""

# ruff: noqa: S603 - runs the pinned tools from <cache>/bin and Locust, never user input

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.kube import Kube, ready_time
from harness.proc import say, terminate

SAMPLE_SECONDS = 2.0
MAX_LOAD_SECONDS = float(os.environ.get("E2E_LOAD_MAX_SECONDS", "180"))
HOLD_SECONDS = float(os.environ.get("E2E_LOAD_HOLD_SECONDS", "15"))
COOLDOWN_SECONDS = float(os.environ.get("E2E_COOLDOWN_SECONDS", "240"))
FIXED_LOAD_SECONDS = float(os.environ.get("E2E_LOAD_FIXED_SECONDS", "60"))
USERS = int(os.environ.get("E2E_LOAD_USERS", "16"))


@dataclass
class Timeline:
    min_replicas: int
    max_replicas: int
    target_cpu: int
    hpa: bool = True
    load_seconds: float = 0.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    locust: dict[str, Any] = field(default_factory=dict)
    new_pod_startup: dict[str, float] = field(default_factory=dict)
    # Per added pod: seconds after creation at which each pod condition turned true.
    new_pod_steps: dict[str, dict[str, float]] = field(default_factory=dict)

    def first_time(self, key: str, at_least: int, phase: str | None = None) -> float | None:
        for s in self.samples:
            if (phase is None or s["phase"] == phase) and (s.get(key) or 0) >= at_least:
                return s["t"]
        return None

    def back_to_min(self) -> float | None:
        """Seconds after load stop until the Deployment was back at minReplicas."""
        for s in self.samples:
            if s["phase"] == "cooldown" and s["replicas"] == self.min_replicas:
                return round(s["t"] - self.load_seconds, 1)
        return None

    def peak(self, key: str) -> float | None:
        values = [s[key] for s in self.samples if s.get(key) is not None]
        return max(values) if values else None

    def pod_peaks(self, phase: str | None = None) -> dict[str, dict[str, float]]:
        """{pod/container: {cpu_m, mem_mi}} peak figures over the samples of a phase."""
        peaks: dict[str, dict[str, float]] = {}
        for s in self.samples:
            if phase and s["phase"] != phase:
                continue
            for pod, containers in (s.get("pods") or {}).items():
                for container, (cpu, mem) in containers.items():
                    p = peaks.setdefault(f"{pod}/{container}", {"cpu_m": 0.0, "mem_mi": 0.0})
                    p["cpu_m"] = max(p["cpu_m"], cpu)
                    p["mem_mi"] = max(p["mem_mi"], mem)
        return peaks

    def summary(self) -> dict[str, Any]:
        return {
            "hpa": self.hpa,
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target_cpu_percent": self.target_cpu,
            "load_seconds": round(self.load_seconds, 1),
            "to_2_replicas_s": self.first_time("replicas", 2, "load"),
            "to_max_replicas_s": self.first_time("replicas", self.max_replicas, "load"),
            "to_2_ready_s": self.first_time("ready", 2, "load"),
            "to_max_ready_s": self.first_time("ready", self.max_replicas, "load"),
            "back_to_min_after_stop_s": self.back_to_min(),
            "peak_cpu_percent": self.peak("cpu_percent"),
            "peak_rps": self.peak("rps"),
            "locust": self.locust,
            "new_pod_startup_s": self.new_pod_startup,
            "new_pod_steps_s": self.new_pod_steps,
        }


def _locust_cmd(host: str, csv_prefix: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(Path(__file__).with_name("locustfile.py")),
        "--headless",
        "--host",
        host,
        # Users come from the locustfile's shape; this process stops the run.
        "--stop-timeout",
        "5",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]


def _sample(kube: Kube, t: float, phase: str) -> dict[str, Any]:
    sample: dict[str, Any] = {"t": round(t, 1), "phase": phase, "wall": time.time()}
    dep = kube.deployment("mcp-server")
    sample["replicas"] = (dep.spec.replicas or 0) if dep else 0
    sample["ready"] = (dep.status.ready_replicas or 0) if dep else 0
    hpa = kube.hpa()
    cpu = None
    if hpa and hpa.status and hpa.status.current_metrics:
        for metric in hpa.status.current_metrics:
            if metric.resource and metric.resource.name == "cpu":
                cpu = metric.resource.current.average_utilization
    sample["cpu_percent"] = cpu
    sample["desired"] = hpa.status.desired_replicas if hpa and hpa.status else None
    try:
        sample["pods"] = kube.pod_metrics()
    except Exception as exc:  # noqa: BLE001 - metrics API hiccups must not end the run
        sample["pods"] = {}
        sample["metrics_error"] = repr(exc)[:200]
    return sample


def _read_history(csv_prefix: Path) -> list[tuple[float, float, float]]:
    """[(unix time, req/s, failures/s)] of Locust's aggregated stats history."""
    path = Path(f"{csv_prefix}_stats_history.csv")
    if not path.exists():
        return []
    rows = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                try:
                    rows.append(
                        (
                            float(row["Timestamp"]),
                            float(row["Requests/s"]),
                            float(row["Failures/s"]),
                        )
                    )
                except (KeyError, ValueError):
                    continue
    return rows


def _read_failures(csv_prefix: Path) -> dict[str, int]:
    """Locust's failures by kind ("HTTP 503", an exception's type and words), most first."""
    from perf.samples import error_kind

    path = Path(f"{csv_prefix}_failures.csv")
    kinds: Counter[str] = Counter()
    if path.exists():
        with path.open() as fh:
            for row in csv.DictReader(fh):
                kinds[error_kind(row.get("Error", ""))] += int(row.get("Occurrences") or 0)
    return dict(kinds.most_common())


def _read_totals(csv_prefix: Path) -> dict[str, Any]:
    path = Path(f"{csv_prefix}_stats.csv")
    if not path.exists():
        return {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                return {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "failures_by_kind": _read_failures(csv_prefix),
                    "rps": round(float(row["Requests/s"]), 1),
                    "p50_ms": float(row["50%"]),
                    "p95_ms": float(row["95%"]),
                    "p99_ms": float(row["99%"]),
                }
    return {}


def _record_new_pods(kube: Kube, before: set[str], timeline: Timeline) -> None:
    """Startup (created -> Ready) of each MCP pod the HPA added, recorded once."""
    for pod in kube.pods("mcp-server"):
        name = pod.metadata.name
        if name in before or name in timeline.new_pod_startup:
            continue
        ready = ready_time(pod)
        if ready:
            created = pod.metadata.creation_timestamp
            timeline.new_pod_startup[name] = round((ready - created).total_seconds(), 1)
            timeline.new_pod_steps[name] = {
                c.type: round((c.last_transition_time - created).total_seconds(), 1)
                for c in pod.status.conditions or []
                if c.status == "True" and c.last_transition_time
            }


def run_hpa_load(release, kube: Kube, out_dir: Path) -> Timeline:
    """Load until the HPA held its maximum (or the time is up), then wait for the way down.

    Without an HPA (the values leave autoscaling off) the load runs for
    FIXED_LOAD_SECONDS, for the resource promise's figures under load.
    """
    hpa = kube.hpa()
    if hpa is None:
        dep = kube.deployment("mcp-server")
        replicas = (dep.spec.replicas or 1) if dep else 0
        timeline = Timeline(min_replicas=replicas, max_replicas=replicas, target_cpu=0, hpa=False)
    else:
        timeline = Timeline(
            min_replicas=hpa.spec.min_replicas or 1,
            max_replicas=hpa.spec.max_replicas,
            target_cpu=hpa.spec.metrics[0].resource.target.average_utilization,
        )
    before = {p.metadata.name for p in kube.pods("mcp-server")}
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_prefix = out_dir / "hpa"
    log = (out_dir / "locust.log").open("w")
    say(
        f"Locust: {USERS} users and more against {release.backend_url} (HPA {timeline.min_replicas}"
        f"->{timeline.max_replicas} at {timeline.target_cpu}% CPU)"
    )
    t0 = time.monotonic()
    wall0 = time.time()
    proc = subprocess.Popen(
        _locust_cmd(release.backend_url, csv_prefix),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],
    )
    held_since: float | None = None
    last_print = 0.0
    try:
        while True:
            t = time.monotonic() - t0
            sample = _sample(kube, t, "load")
            timeline.samples.append(sample)
            _record_new_pods(kube, before, timeline)
            if t - last_print >= 10:
                say(
                    f"  load t={t:5.0f}s replicas={sample['replicas']} ready={sample['ready']} "
                    f"cpu={sample['cpu_percent']}%"
                )
                last_print = t
            if not timeline.hpa and t >= FIXED_LOAD_SECONDS:
                break
            if timeline.hpa and sample["ready"] >= timeline.max_replicas:
                held_since = held_since if held_since is not None else t
                if t - held_since >= HOLD_SECONDS:
                    break
            if t >= MAX_LOAD_SECONDS or proc.poll() is not None:
                break
            time.sleep(SAMPLE_SECONDS)
    finally:
        timeline.load_seconds = time.monotonic() - t0
        terminate(proc, grace=30)
        log.close()
    say(f"load stopped after {timeline.load_seconds:.0f} s; waiting for scale-down")
    last_print = 0.0
    while True:
        t = time.monotonic() - t0
        sample = _sample(kube, t, "cooldown")
        timeline.samples.append(sample)
        _record_new_pods(kube, before, timeline)
        if t - last_print >= 15:
            say(
                f"  cooldown t={t:5.0f}s replicas={sample['replicas']} cpu={sample['cpu_percent']}%"
            )
            last_print = t
        if sample["replicas"] == timeline.min_replicas and sample["ready"] == timeline.min_replicas:
            break
        if t - timeline.load_seconds >= COOLDOWN_SECONDS:
            break
        time.sleep(SAMPLE_SECONDS)

    # Locust's request rate per second, placed on the same clock.
    for ts, rps, fps in _read_history(csv_prefix):
        t = ts - wall0
        nearest = min(timeline.samples, key=lambda s: abs(s["t"] - t))
        if abs(nearest["t"] - t) <= SAMPLE_SECONDS:
            nearest["rps"] = rps
            nearest["fail_rps"] = fps
    timeline.locust = {"users": USERS, **_read_totals(csv_prefix)}

    return timeline
