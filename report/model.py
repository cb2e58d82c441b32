"""One run as plain data: what the markdown summary and the HTML page are both rendered from.

A `Run` is made by a suite's reader (`e2e.report.read_run`, `perf.report.read_run`)
from the files the run recorded, never from the live run, so a page can be
rebuilt later (`python -m report`). It holds:

- the run's header: title, id, commit, start, duration, facts decided once and
  versions, the phases of every process (its timeline), and `missing`: what the
  run did not get to record (empty for a complete run);
- `legs`: one or more named passes (a matrix leg, a repeat, ...), each with its
  promises (one row per promise, PASS / FAIL / N/A / NOT PROVABLE) and its own
  sections (the pictures of that pass);
- `sections`: the run's own sections after the legs (a perf run's SLOs, a repeat
  summary, links to other runs).

A section is a title and a list of blocks (`Paragraph`, `Bullets`, `Table`,
`Figure`, `Screenshots`, `Preformatted`, `Links`); both renderers know every block.
Text in paragraphs, bullets and table cells may use two marks, `**strong**` and
`` `code` ``; everything else is shown as written (escaped for HTML and markdown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

# Verdicts, in the order a run's verdict picks the worst.
PASS = "PASS"  # noqa: S105 - a verdict, not a password
FAIL = "FAIL"
NOT_PROVABLE = "NOT PROVABLE"
PARTLY = "PASS (part)"
NOT_APPLICABLE = "N/A"
NOT_RUN = "not run"
INCOMPLETE = "INCOMPLETE"


@dataclass
class Link:
    text: str
    href: str  # relative to the page (the markdown file sits next to it)


@dataclass
class Artifact:
    """A file saved when a test failed (logs, events, describe output, helm state)."""

    group: str  # logs | events | describe | helm | cluster
    text: str
    href: str


@dataclass
class Fact:
    label: str
    value: str
    why: str = ""  # the reason a decision went this way, shown next to it


@dataclass
class Phase:
    """One timed step of one of the run's processes (toolchain.progress's phase file)."""

    name: str
    depth: int
    started: float  # unix time
    seconds: float
    status: str  # ok | cached | failed | running
    stage: str = ""  # prepare | bring-up | tests | teardown | report


@dataclass
class TestResult:
    __test__ = False  # a record, not a test class for pytest to collect

    name: str
    verdict: str
    outcome: str  # as recorded: "passed", "failed", or the reason it was not proven
    seconds: float | None = None
    message: str = ""  # a failure's message (the assertion and what it showed)
    where: str = ""  # file:line of the failure
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """The failure message's first line, with its first item when that line introduces a
        list ("cannot pull their images:"), so the summary says what, not only that."""
        lines = [line.strip() for line in (self.message or self.outcome).strip().splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            return self.outcome
        if lines[0].endswith(":") and len(lines) > 1:
            more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
            return f"{lines[0]} {lines[1].removeprefix('- ')}{more}"
        return lines[0]


@dataclass
class Promise:
    key: str  # "0", "12": the promise's number
    title: str
    verdict: str
    tests: list[TestResult] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        known = [t.seconds for t in self.tests if t.seconds is not None]
        return sum(known) if known else None


# --- blocks -------------------------------------------------------------------------------


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Cell:
    text: str
    verdict: str | None = None  # shown as a badge
    href: str | None = None


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell | str]]
    numeric: tuple[int, ...] = ()  # column indexes aligned right
    caption: str = ""


@dataclass
class Figure:
    """A plot: inline SVG on the page, a file next to the markdown. Drawn when a rendering
    first asks for it, so reading a run (to count its verdicts, say) draws nothing."""

    name: str  # file stem, unique within the run
    title: str
    draw: Callable[[], str]  # returns the SVG
    caption: str = ""

    @cached_property
    def svg(self) -> str:
        return self.draw()


@dataclass
class Shot:
    src: str  # an image file of the run, relative to the page
    caption: str


@dataclass
class Screenshots:
    shots: list[Shot]


@dataclass
class Preformatted:
    text: str
    summary: str = ""  # shown folded under this line when given


@dataclass
class Links:
    links: list[Link]


Block = Paragraph | Bullets | Table | Figure | Screenshots | Preformatted | Links


@dataclass
class Section:
    id: str  # the page anchor, unique within the run
    title: str
    blocks: list[Block] = field(default_factory=list)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Leg:
    """One named pass of a suite: its promises and its pictures."""

    name: str
    promises: list[Promise] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)  # what sets this leg apart

    @property
    def verdict(self) -> str:
        return worst(p.verdict for p in self.promises)


@dataclass
class Run:
    kind: str  # e2e | perf
    title: str
    run_id: str = ""
    commit: str = ""
    started: float | None = None  # unix time
    seconds: float | None = None
    decided: list[Fact] = field(default_factory=list)
    versions: list[Fact] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    timeline: Section | None = None  # the phases as a chart and a table
    legs: list[Leg] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what the run did not record
    files: list[Link] = field(default_factory=list)
    # A verdict of the run's own (perf: the SLOs); otherwise the legs' worst.
    own_verdict: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def verdict(self) -> str:
        verdicts = [leg.verdict for leg in self.legs if leg.promises]
        if self.own_verdict:
            verdicts.append(self.own_verdict)
        found = worst(verdicts)
        if found == FAIL or self.complete:
            return found
        return INCOMPLETE

    def failures(self) -> list[tuple[Leg, Promise, TestResult]]:
        """Every failed test of every leg, in order: shown first, before any detail."""
        return [
            (leg, promise, test)
            for leg in self.legs
            for promise in leg.promises
            for test in promise.tests
            if test.verdict == FAIL
        ]

    def counts(self) -> dict[str, int]:
        """How many promises ended with each verdict, over every leg."""
        out: dict[str, int] = {}
        for leg in self.legs:
            for promise in leg.promises:
                out[promise.verdict] = out.get(promise.verdict, 0) + 1
        return out


def worst(verdicts) -> str:
    """FAIL over NOT PROVABLE over PASS (part) over PASS; N/A and not run only when alone."""
    seen = set(verdicts)
    for verdict in (FAIL, INCOMPLETE, NOT_PROVABLE, PARTLY, PASS, NOT_APPLICABLE):
        if verdict in seen:
            return verdict
    return NOT_RUN
