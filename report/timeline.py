"""A run's phases (every process's timed steps) as the page's timeline section.

The phase file (`toolchain.progress`) holds each finished step of depth 0-2 of
every process of a run. Each suite says where its stages begin (the test
session, the first and last test, ...); `stages()` puts each step in one:
prepare (host, tools, images), bring-up (cluster, release), tests, teardown,
and the report itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from report import plots
from report.html import duration, when
from report.model import Paragraph, Phase, Preformatted, Section, Table
from toolchain.progress import read_phases

REPORT_STEP = "report"


def read(path: Path) -> list[Phase]:
    """The phase file's steps, in the order they started."""
    phases = [
        Phase(
            name=p["name"],
            depth=int(p.get("depth", 0)),
            started=float(p.get("started", 0.0)),
            seconds=float(p.get("seconds", 0.0)),
            status=p.get("status", "ok"),
        )
        for p in read_phases(path)
        if path.exists()
    ]
    return sorted(phases, key=lambda p: p.started)


def stages(
    phases: Iterable[Phase],
    *,
    bring_up_from: float | None,
    tests_from: float | None,
    teardown_from: float | None,
) -> list[Phase]:
    """Each step put in the stage during which it started (a stage whose start is unknown
    has not begun)."""
    out = []
    for phase in phases:
        stage = "prepare"
        for name, start in (
            ("bring-up", bring_up_from),
            ("tests", tests_from),
            ("teardown", teardown_from),
        ):
            if start is not None and phase.started >= start - 0.5:
                stage = name
        if phase.name == REPORT_STEP:
            stage = "report"
        phase.stage = phase.stage or stage
        out.append(phase)
    return out


def section(phases: list[Phase], extra: Iterable[Phase] = ()) -> Section | None:
    """The chart (top-level steps and `extra` bars, e.g. one per promise), the wall time of
    each stage, and every step folded away."""
    if not phases:
        return None
    bars = sorted([p for p in phases if p.depth == 0] + list(extra), key=lambda p: p.started)
    blocks: list = []
    figure = plots.timeline(bars)
    if figure:
        blocks.append(figure)
    rows = []
    for stage in plots.STAGES:
        members = [p for p in bars if p.stage == stage]
        if not members:
            continue
        start = min(p.started for p in members)
        end = max(p.started + p.seconds for p in members)
        failed = [p.name for p in members if p.status == "failed"]
        rows.append(
            [
                stage,
                duration(end - start),
                when(start)[11:19],
                when(end)[11:19],
                ", ".join(failed) or "-",
            ]
        )
    blocks.append(Table(["stage", "wall time", "from", "to", "failed"], rows, numeric=(1,)))
    start = min(p.started for p in phases)
    end = max(p.started + p.seconds for p in phases)
    blocks.append(Paragraph(f"From the first step to the last: {duration(end - start)}."))
    width = max(len(p.name) + 2 * p.depth for p in phases)
    lines = [f"{'step':<{width}}  {'stage':<9} {'status':<7} {'seconds':>8}"]
    lines += [
        f"{'  ' * p.depth + p.name:<{width}}  {p.stage:<9} {p.status:<7} {p.seconds:>8.1f}"
        for p in phases
    ]
    blocks.append(Preformatted("\n".join(lines), summary=f"Every step ({len(phases)})"))
    return Section("timeline", "Timeline", blocks)
