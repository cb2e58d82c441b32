"""The e2e run as the report's model: read from what the run recorded, never from the cluster.

Recorded files, all under `reports/` (and `artifacts/` beside it):
- `e2e-results.json`: the tests' measurements (e2e/conftest.py's `Results`), each
  test's outcome, duration and failure message, the bring-up's facts;
- `e2e-phases.jsonl`: every timed step of every process of the run;
- `e2e-junit.xml`: pytest's own rendering, linked;
- `artifacts/<namespace>/<test>/`: what the cluster looked like when a test failed;
- `frontend/`: the front end's screenshots, `perf/<run>/index.html`: perf runs.

`read_run(reports)` makes the `report.model.Run`; `write(reports)` renders it
(`index.html`, `e2e-summary.md`, `figures/`). A run that stopped early (a failed
image build, Ctrl-C, a killed pytest) still gets its page, marked incomplete
with what is missing. `python -m report` (`nox -s report`) calls `write`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from e2e import figures
from report import Written, timeline
from report import bring_up as bring_up_facts
from report import write as write_renderings
from report.model import (
    FAIL,
    NOT_APPLICABLE,
    NOT_PROVABLE,
    NOT_RUN,
    PARTLY,
    PASS,
    Artifact,
    Bullets,
    Cell,
    Fact,
    Leg,
    Link,
    Links,
    Paragraph,
    Phase,
    Preformatted,
    Promise,
    Run,
    Screenshots,
    Section,
    Shot,
    Table,
    TestResult,
)

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"
RESULTS = "e2e-results.json"
PHASES = "e2e-phases.jsonl"
JUNIT = "e2e-junit.xml"
SUMMARY = "e2e-summary.md"

# Short names for results recorded without the promises' own titles.
DEFAULT_PROMISES = {
    "0": "cluster",
    "1": "install",
    "2": "startup",
    "3": "health",
    "4": "backend -> MCP",
    "5": "resources",
    "6": "HPA",
    "7": "rollback and switches",
    "8": "faults",
    "9": "security",
    "10": "helm test",
    "11": "node drain",
    "12": "upgrade",
    "13": "front end",
}
EXIT_STATUS = {
    2: "the run was interrupted (Ctrl-C or a signal) before every promise was proven",
    3: "pytest stopped on an internal error",
    4: "pytest was called with options it does not know",
    5: "pytest collected no test",
}


# --- verdicts ---------------------------------------------------------------------------------


def verdict_of(outcome: str) -> str:
    if outcome == "passed":
        return PASS
    if outcome == "failed":
        return FAIL
    if outcome.startswith("not provable"):
        return NOT_PROVABLE
    if outcome.startswith("not applicable"):
        return NOT_APPLICABLE
    return NOT_RUN


def promise_verdict(verdicts: list[str]) -> str:
    """PASS when every test passed; FAIL when one failed or was skipped without saying it
    is not provable or not applicable; NOT PROVABLE (or PASS (part)) when the cluster could
    not prove some; N/A when none applies."""
    if not verdicts:
        return NOT_RUN
    counted = [v for v in verdicts if v != NOT_APPLICABLE]
    if not counted:
        return NOT_APPLICABLE
    if FAIL in counted or NOT_RUN in counted:
        return FAIL
    if all(v == PASS for v in counted):
        return PASS
    return PARTLY if PASS in counted else NOT_PROVABLE


# --- reading --------------------------------------------------------------------------------------


def load_results(reports: Path) -> dict[str, Any]:
    """The run's e2e-results.json in `reports` ({} when missing or unreadable)."""
    try:
        return json.loads((reports / RESULTS).read_text())
    except (OSError, ValueError):
        return {}


def _stale(results_file: Path, phases: list[Phase], data: dict[str, Any]) -> bool:
    """Results of an earlier run: written before this run's first step started (the phase
    file starts anew with each session; the results file does not)."""
    if not phases or not data:
        return False
    written = data.get("session_started") or results_file.stat().st_mtime
    return written < phases[0].started - 1


def _artifacts(root: Path, reports: Path, recorded: str | None) -> list[Artifact]:
    """The files saved for a failed test, linked relative to the page."""
    if not recorded:
        return []
    folder = Path(recorded)
    if folder.is_absolute() and "artifacts" in folder.parts:  # recorded on another machine
        folder = Path(*folder.parts[folder.parts.index("artifacts") :])
    folder = root / folder if not folder.is_absolute() else folder
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        base = path.name
        if base.startswith("logs-"):
            group = "logs"
        elif "events" in base:
            group = "events"
        elif base.startswith("describe-"):
            group = "describe"
        elif base.startswith("helm-"):
            group = "helm"
        else:
            group = "objects"
        out.append(Artifact(group, name, os.path.relpath(path, reports)))
    return out


def _tests(data: dict[str, Any], root: Path, reports: Path) -> dict[str, list[TestResult]]:
    """promise -> its tests, in the order they ran."""
    by_promise: dict[str, list[TestResult]] = {}
    recorded = data.get("tests") or {}
    if recorded:
        for rec in recorded.values():
            outcome = rec.get("outcome", "failed")
            by_promise.setdefault(str(rec.get("promise")), []).append(
                TestResult(
                    name=rec.get("name", "?"),
                    verdict=verdict_of(outcome),
                    outcome=outcome,
                    seconds=rec.get("seconds"),
                    message=rec.get("message", ""),
                    where=rec.get("where", ""),
                    artifacts=_artifacts(root, reports, rec.get("artifacts")),
                )
            )
        return by_promise
    # Results recorded before per-test records: outcomes only, artifacts by folder name.
    saved = {Path(p).name: p for p in data.get("failure_artifacts") or []}
    for promise, tests in (data.get("outcomes") or {}).items():
        for name, outcome in tests.items():
            safe = name.replace("/", "_").replace("[", "_").replace("]", "")
            by_promise.setdefault(str(promise), []).append(
                TestResult(
                    name=name,
                    verdict=verdict_of(outcome),
                    outcome=outcome,
                    artifacts=_artifacts(root, reports, saved.get(safe))
                    if outcome == "failed"
                    else [],
                )
            )
    return by_promise


def _promises(data: dict[str, Any], root: Path, reports: Path) -> list[Promise]:
    titles = {str(k): v for k, v in (data.get("promises") or DEFAULT_PROMISES).items()}
    tests = _tests(data, root, reports)
    keys = list(titles) + [k for k in tests if k not in titles]
    return [
        Promise(
            key=k,
            title=titles.get(k, f"promise {k}"),
            verdict=promise_verdict([t.verdict for t in tests.get(k, [])]),
            tests=tests.get(k, []),
        )
        for k in sorted(keys, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    ]


def _missing(reports: Path, data: dict[str, Any], phases: list[Phase], stale: bool) -> list[str]:
    """What the run did not get to record."""
    failed = [p.name for p in phases if p.status == "failed" and p.depth == 0]
    if not data:
        where = f" at `{failed[0]}` (failed)" if failed else ""
        because = " (the results on disk are from an earlier run)" if stale else ""
        if phases:
            return [f"no promise was proven: the run stopped before the tests{where}{because}"]
        return ["no e2e run recorded here: run `nox -s e2e`"]
    finished = data.get("finished")
    if not finished:
        running = [t["name"] for t in (data.get("tests") or {}).values()][-1:]
        after = f" (last recorded: `{running[0]}`)" if running else ""
        return [f"the test session recorded no end: it was killed or is still running{after}"]
    stopped_by = data.get("stopped_by") or ""
    files = _not_collected(reports) if finished.get("exit_status") == 2 else []
    if "during collection" in stopped_by or (files and not stopped_by):
        named = ", ".join(f"`{f}`" for f in files)
        errors = stopped_by or f"{len(files)} errors during collection"
        return [
            f"pytest stopped before any test ran, with {errors}" + (f": {named}" if named else "")
        ]
    why = EXIT_STATUS.get(finished.get("exit_status"))
    return [why] if why else []


def _not_collected(reports: Path) -> list[str]:
    """The test files pytest could not collect, as its JUnit XML names them (a test case
    named `a.b.test_c` for a/b/test_c.py, `.ci.tests.test_d` for .ci/tests/test_d.py)."""
    try:
        suite = ElementTree.parse(reports / JUNIT)  # noqa: S314 - pytest's own file
    except (OSError, ElementTree.ParseError):
        return []
    files = []
    for case in suite.iter("testcase"):
        if any(e.get("message") == "collection failure" for e in case.iter("error")):
            parts = (case.get("classname") or case.get("name", "")).split(".")
            if parts[0] == "" and len(parts) > 1:  # a folder whose name starts with a dot
                parts = ["." + parts[1], *parts[2:]]
            files.append("/".join(parts) + ".py")
    return files


def _stage_times(data: dict[str, Any]) -> dict[str, float | None]:
    tests = list((data.get("tests") or {}).values())
    starts = [t["started"] for t in tests if t.get("started")]
    stops = [t["stopped"] for t in tests if t.get("stopped")]
    return {
        "bring_up_from": data.get("session_started"),
        "tests_from": min(starts) if starts else None,
        "teardown_from": max(stops) if stops else None,
    }


def _promise_bars(data: dict[str, Any], promises: list[Promise]) -> list[Phase]:
    """One timeline bar per promise: from its first test's start to its last one's end."""
    spans: dict[str, list[float]] = {}
    for rec in (data.get("tests") or {}).values():
        if rec.get("started") and rec.get("stopped"):
            span = spans.setdefault(str(rec.get("promise")), [rec["started"], rec["stopped"]])
            span[0], span[1] = min(span[0], rec["started"]), max(span[1], rec["stopped"])
    titles = {p.key: p for p in promises}
    bars = []
    for key, (start, stop) in spans.items():
        promise = titles.get(key)
        name = f"promise {key}: {DEFAULT_PROMISES.get(key, promise.title if promise else key)}"
        failed = promise is not None and promise.verdict == FAIL
        bars.append(Phase(name, 0, start, stop - start, "failed" if failed else "ok", "tests"))
    return bars


def read_leg(reports: Path, data: dict[str, Any], name: str = "") -> Leg:
    """One pass of the suite (its promises and its pictures) from its results `data`, for a
    page written in `reports` (its links are relative to it; artifacts/ is beside it)."""
    root = reports.parent
    bring_up = data.get("bring_up") or {}
    leg = Leg(name=name or _leg_name(bring_up), promises=_promises(data, root, reports))
    leg.facts = [
        Fact("Values", str(bring_up.get("values") or "-")),
        Fact("Nodes", str((bring_up.get("cluster") or {}).get("nodes") or "-")),
    ]
    makers = (_startup, _hpa, _resources, _rollouts, _frontend, _faults, _netpol, _helm_test)
    leg.sections = [s for make in makers if (s := make(data, reports))]
    return leg


def _leg_name(bring_up: dict[str, Any]) -> str:
    versions = bring_up.get("versions") or {}
    cluster = bring_up.get("cluster") or {}
    parts = (
        [f"Kubernetes {versions['kubernetes_server']}"] if versions.get("kubernetes_server") else []
    )
    if bring_up.get("values"):
        parts.append(str(bring_up["values"]))
    if cluster.get("nodes"):
        parts.append(f"{cluster['nodes']} node(s)")
    return ", ".join(parts)


def read_run(reports: Path = REPORTS_DIR) -> Run:
    """The run recorded in `reports` (and `artifacts/` beside it), complete or not."""
    results_file = reports / RESULTS
    phases = timeline.read(reports / PHASES)
    data = load_results(reports)
    stale = _stale(results_file, phases, data)
    if stale:
        data = {}
    bring_up = data.get("bring_up") or {}
    run = Run(
        kind="e2e",
        title="todo-app e2e",
        run_id=str(data.get("run_id") or ""),
        commit=bring_up_facts.commit(bring_up),
        decided=bring_up_facts.decided(bring_up),
        versions=bring_up_facts.versions(bring_up),
        missing=_missing(reports, data, phases, stale),
    )
    if data:
        run.legs = [read_leg(reports, data)]
        if run.legs[0].name:  # which matrix leg, say
            run.title = f"{run.title} ({run.legs[0].name})"
    starts = [p.started for p in phases] or [data.get("session_started")]
    run.started = min((s for s in starts if s), default=None)
    ends = [p.started + p.seconds for p in phases]
    if (data.get("finished") or {}).get("at"):
        ends.append(data["finished"]["at"])
    run.seconds = (max(ends) - run.started) if ends and run.started else None
    run.phases = timeline.stages(phases, **_stage_times(data))
    bars = _promise_bars(data, run.legs[0].promises) if run.legs else []
    run.timeline = timeline.section(run.phases, bars)
    perf = _perf_runs(reports)
    if perf:
        run.sections.append(perf)
    run.files = [
        Link(name, name)
        for name in (SUMMARY, JUNIT, RESULTS, PHASES)
        if (reports / name).exists() or name == SUMMARY
    ]
    return run


def write(reports: Path = REPORTS_DIR, *, step_summary: bool = False) -> Written:
    return write_renderings(read_run(reports), reports, SUMMARY, step_summary=step_summary)


# --- sections ------------------------------------------------------------------------------------


def _n(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _startup(data: dict[str, Any], _: Path) -> Section | None:
    startup = data.get("startup") or {}
    pods = startup.get("pods") or []
    if not pods:
        return None
    blocks: list = []
    figure = figures.startup_waterfall(pods)
    if figure:
        blocks.append(figure)
    if startup.get("objects_created_to_all_ready_s") is not None:
        blocks.append(
            Paragraph(
                "Release objects created -> every pod Ready: "
                f"**{startup['objects_created_to_all_ready_s']:.1f} s**."
            )
        )
    medians = startup.get("median_by_component") or {}
    if medians:
        blocks.append(
            Paragraph(
                "Median created -> Ready per component: "
                + ", ".join(f"{c} {v:.1f} s" for c, v in sorted(medians.items()))
            )
        )
    rows = []
    for pod in pods:
        steps = pod.get("steps_s") or {}
        rows.append(
            [
                pod["pod"],
                str(pod.get("component")),
                _n(float(pod["seconds"])),
                _n(steps.get("PodScheduled")),
                _n(pod.get("image_pulled_s")),
                _n(pod.get("started_s")),
                _n(steps.get("Ready")),
            ]
        )
    blocks.append(
        Table(
            ["pod", "component", "created -> Ready (s)", "scheduled", "image", "started", "Ready"],
            rows,
            numeric=(2, 3, 4, 5, 6),
            caption="Seconds after the pod was created.",
        )
    )
    hpa = data.get("hpa") or {}
    if hpa.get("new_pod_startup_s"):
        blocks.append(
            Paragraph(
                "Pods the HPA added, created -> Ready: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in hpa["new_pod_startup_s"].items())
            )
        )
    return Section("startup", "Pod startup", blocks)


def _hpa(data: dict[str, Any], _: Path) -> Section | None:
    hpa = data.get("hpa") or {}
    if not hpa:
        return None
    locust = hpa.get("locust") or {}
    if hpa.get("hpa", True):
        head = (
            f"HPA {hpa.get('min_replicas')} -> {hpa.get('max_replicas')} at "
            f"{hpa.get('target_cpu_percent')}% CPU; the load ran {_n(hpa.get('load_seconds'))} s "
            f"from {locust.get('users', '?')} Locust users up."
        )
    else:
        head = (
            f"No HPA with these values: {hpa.get('min_replicas')} MCP replica(s) under a "
            f"fixed load of {_n(hpa.get('load_seconds'))} s."
        )
    blocks: list = [Paragraph(head)]
    figure = figures.hpa(data.get("hpa_samples") or [], hpa)
    if figure:
        blocks.append(figure)
    top = hpa.get("max_replicas")
    rows = [
        ["load start -> 2 replicas (decided)", _n(hpa.get("to_2_replicas_s"))],
        [f"load start -> {top} replicas (decided)", _n(hpa.get("to_max_replicas_s"))],
        ["load start -> 2 ready", _n(hpa.get("to_2_ready_s"))],
        [f"load start -> {top} ready", _n(hpa.get("to_max_ready_s"))],
        [
            f"load stop -> back to {hpa.get('min_replicas')}",
            _n(hpa.get("back_to_min_after_stop_s")),
        ],
        ["peak HPA CPU (% of request)", _n(hpa.get("peak_cpu_percent"))],
        ["peak req/s", _n(hpa.get("peak_rps"))],
    ]
    blocks.append(Table(["figure", "seconds / value"], rows, numeric=(1,)))
    if locust:
        blocks.append(
            Paragraph("Locust totals: " + ", ".join(f"{k} {v}" for k, v in locust.items()))
        )
    return Section("hpa", "HPA under load", blocks)


def _resources(data: dict[str, Any], _: Path) -> Section | None:
    idle = data.get("resources_idle") or {}
    load = data.get("resources_load") or {}
    if not idle and not load:
        return None
    blocks: list = []
    figure = figures.resources(idle, load)
    if figure:
        blocks.append(figure)
    spec = load or idle
    limits, requests = spec.get("limits") or {}, spec.get("requests") or {}
    rows = []
    for key in sorted(set(idle.get("peaks") or {}) | set(load.get("peaks") or {})):
        component = figures.component_of(key, limits)
        i, ld = (idle.get("peaks") or {}).get(key, {}), (load.get("peaks") or {}).get(key, {})
        req, lim = requests.get(component) or {}, limits.get(component) or {}
        rows.append(
            [
                key,
                _n(i.get("cpu_m"), "m", 0),
                _n(ld.get("cpu_m"), "m", 0),
                _n(req.get("cpu_m"), "m", 0),
                _n(lim.get("cpu_m"), "m", 0),
                _n(i.get("mem_mi"), "Mi", 0),
                _n(ld.get("mem_mi"), "Mi", 0),
                _n(req.get("mem_mi"), "Mi", 0),
                _n(lim.get("mem_mi"), "Mi", 0),
            ]
        )
    blocks.append(
        Table(
            [
                "pod/container",
                "CPU idle",
                "CPU load",
                "CPU request",
                "CPU limit",
                "mem idle",
                "mem load",
                "mem request",
                "mem limit",
            ],
            rows,
            numeric=tuple(range(1, 9)),
            caption="metrics-server's peaks over the samples.",
        )
    )
    return Section("resources", "Resources against requests and limits", blocks)


def _step_rows(steps: list[dict[str, Any]]) -> list[list]:
    rows = []
    for st in steps:
        lowest = st.get("mcp_replicas_lowest")
        kept = st.get("data_kept", "yes")
        rows.append(
            [
                st["step"],
                str(st.get("helm", "-")),
                _n(st.get("seconds")),
                str(st.get("requests")),
                Cell(str(st.get("failed")), verdict=PASS if not st.get("failed") else None),
                _n(st.get("longest_gap_s"), digits=2),
                str(st.get("acknowledged")),
                Cell(kept, verdict=PASS if kept == "yes" else FAIL),
                "yes" if st.get("mcp_server", True) else "no",
                "-" if lowest is None else str(lowest),
            ]
        )
    return rows


STEP_COLUMNS = [
    "step",
    "Helm",
    "seconds",
    "requests",
    "failed",
    "longest gap (s)",
    "acknowledged",
    "data kept",
    "MCP",
    "MCP replicas (lowest)",
]


def _rollouts(data: dict[str, Any], _: Path) -> Section | None:
    """The upgrade promise's legs and the drain, each under an in-cluster client's writes."""
    upgrade = data.get("upgrade") or {}
    drain = data.get("drain") or {}
    blocks: list = []
    legs = []
    if upgrade.get("steps"):
        values = ", ".join(upgrade.get("values") or []) or "as shipped"
        blocks.append(
            Paragraph(
                f"Upgrade legs from the earlier revision `{upgrade['from'][:12]}` "
                f"({upgrade.get('chosen_by')}), with values {values}; an "
                "in-cluster client writes every 0.1 s throughout."
            )
        )
        blocks.append(Table(STEP_COLUMNS, _step_rows(upgrade["steps"]), numeric=(2, 3, 4, 5, 6)))
        legs += upgrade["steps"]
    if drain.get("steps"):
        spread = "; ".join(f"{c}: {', '.join(n)}" for c, n in (drain.get("spread") or {}).items())
        blocks.append(Paragraph(f"Node drain. Spread before it: {spread or '-'}."))
        blocks.append(Table(STEP_COLUMNS, _step_rows(drain["steps"]), numeric=(2, 3, 4, 5, 6)))
        legs += drain["steps"]
    if not legs:
        return None
    figure = figures.requests_with_gaps(legs)
    if figure:
        blocks.insert(0, figure)
    return Section("rollouts", "Upgrade, rollback, values switch and drain under load", blocks)


def _frontend(data: dict[str, Any], reports: Path) -> Section | None:
    """The browser promise: each step's time and screenshot, axe-core's findings, the
    console errors, navigation timing per page."""
    front = data.get("frontend") or {}
    if not front:
        return None
    blocks: list = []
    steps = front.get("steps") or []
    if steps:
        rows = [
            [s.get("name", "?"), s.get("page", "-"), _n(s.get("seconds"), digits=2)] for s in steps
        ]
        blocks.append(Table(["step", "page", "seconds"], rows, numeric=(2,)))
        shots = [
            Shot(s["screenshot"], s.get("name", ""))
            for s in steps
            if s.get("screenshot") and (reports / s["screenshot"]).exists()
        ]
        if shots:
            blocks.append(Screenshots(shots))
    found = [v for impact in (front.get("axe") or {}).values() for v in impact]
    if found:
        rows = [
            [
                v.get("impact") or "unknown",
                f"`{v.get('id')}`: {v.get('help', '')}",
                v.get("step", "-"),
                ", ".join(v.get("nodes") or []),
            ]
            for v in found
        ]
        blocks.append(
            Table(
                ["impact", "rule", "step", "where"],
                rows,
                caption="Accessibility: what axe-core found",
            )
        )
    elif "axe" in front:
        blocks.append(Paragraph("Accessibility: axe-core found no violation on any page."))
    errors = front.get("console_errors") or []
    if errors:
        blocks.append(
            Table(
                ["step", "console error"],
                [[e.get("step", "-"), e.get("error", "")] for e in errors],
            )
        )
    navigation = front.get("navigation") or {}
    if navigation:
        keys = list(dict.fromkeys(k for timings in navigation.values() for k in timings))
        rows = [[page, *(_n((t or {}).get(k)) for k in keys)] for page, t in navigation.items()]
        blocks.append(
            Table(
                ["page", *keys],
                rows,
                numeric=tuple(range(1, len(keys) + 1)),
                caption="Navigation timing (median of the page's loads)",
            )
        )
    return Section("frontend", "Front end", blocks) if blocks else None


def _faults(data: dict[str, Any], _: Path) -> Section | None:
    faults = data.get("faults") or []
    if not faults:
        return None
    rows = [
        [f.get("test", "?"), "; ".join(f"{k}: {_brief(v)}" for k, v in f.items() if k != "test")]
        for f in faults
    ]
    return Section("faults", "Faults", [Table(["fault", "what was seen"], rows)])


def _brief(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _netpol(data: dict[str, Any], _: Path) -> Section | None:
    netpol = data.get("netpol") or {}
    egress = data.get("egress") or {}
    if not netpol and not egress:
        return None
    blocks: list = []
    if netpol:
        outsider, insider = netpol.get("outsider") or {}, netpol.get("backend_pod") or {}
        rows = [
            [target, outsider.get(target, "-"), insider.get(target, "-")]
            for target in sorted(set(outsider) | set(insider))
        ]
        blocks.append(
            Paragraph(
                f"Probes from a pod without the allowed labels and from the "
                f"backend's pod (enforcer: {netpol.get('enforcer', '?')})."
            )
        )
        blocks.append(Table(["target", "outsider", "backend pod"], rows))
    if egress:
        blocks.append(Paragraph("With the egress policy on, from the backend's pod:"))
        blocks.append(Table(["target", "seen"], [[k, str(v)] for k, v in egress.items()]))
    return Section("netpol", "NetworkPolicy", blocks)


def _helm_test(data: dict[str, Any], _: Path) -> Section | None:
    helm = data.get("helm_test") or {}
    if not helm:
        return None
    return Section(
        "helm-test",
        "helm test",
        [
            Paragraph(f"Exit code {helm.get('exit_code')}."),
            Preformatted(helm.get("output") or "", summary="Its output"),
        ],
    )


def _perf_runs(reports: Path) -> Section | None:
    """The perf runs recorded beside this one, newest first."""
    pages = sorted((reports / "perf").glob("*/index.html"), reverse=True)
    if not pages:
        return None
    links = [
        Link(f"{p.parent.name}{' (latest)' if i == 0 else ''}", os.path.relpath(p, reports))
        for i, p in enumerate(pages[:10])
    ]
    blocks: list = [Links(links)]
    if len(pages) > 10:
        blocks.append(Bullets([f"{len(pages) - 10} older runs under `reports/perf/`."]))
    return Section("perf-runs", "Perf runs", blocks)
