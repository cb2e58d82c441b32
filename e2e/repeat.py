"""`nox -s e2e -- --repeat N`: the same leg N times, and what the N runs say together.

Each run is a whole run, on a cluster of its own: made, used and deleted by
that run, as a user's `nox -s e2e` does (a flake of the bring-up counts, and
no run inherits another's state). The images are prepared once before the
first run; they are the same build for every run.

After each run its recorded files move to `reports/repeat/run-<i>/`
(`reports/` and `artifacts/` as the run left them); `summarize()` then writes
`reports/repeat/` `index.html`, `summary.md` and `summary.json`: per test and
per promise how many runs passed, and every failure classified by
`harness.triage` as the product's, the harness's or the machine's, with the
line that shows it. Standard library at import: the noxfile uses it.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "reports" / "repeat"
# What one e2e run leaves under reports/ (the rest there belongs to other sessions).
RUN_FILES = ("e2e-results.json", "e2e-junit.xml", "e2e-summary.md", "index.html", "figures",
             "frontend", "locust")  # fmt: skip


def split_args(args: list[str]) -> tuple[int, list[str]]:
    """(N of `--repeat N`, the other arguments); N is 1 without the option."""
    rest, count = [], 1
    items = iter(args)
    for arg in items:
        if arg == "--repeat" or arg.startswith("--repeat="):
            value = arg.split("=", 1)[1] if "=" in arg else next(items, "")
            if not value.isdigit() or int(value) < 1:
                raise ValueError(
                    f"--repeat takes a whole number of runs (1 or more), not {value!r}"
                )
            count = int(value)
        else:
            rest.append(arg)
    return count, rest


def run_folder(index: int, folder: Path = FOLDER) -> Path:
    return folder / f"run-{index}"


def clear(root: Path = ROOT) -> None:
    """Remove what an earlier run left under reports/ and artifacts/, before a run starts:
    `collect()` moves whatever is there, and a run that records nothing (pytest refusing an
    option, a crash) must not be credited with another run's results."""
    for name in RUN_FILES:
        path = root / "reports" / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    shutil.rmtree(root / "artifacts", ignore_errors=True)


def collect(index: int, root: Path = ROOT, folder: Path = FOLDER) -> Path:
    """Move what run `index` recorded out of the way of the next run (`clear()` ran before
    it, so all there is is this run's)."""
    target = run_folder(index, folder)
    (target / "reports").mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        source = root / "reports" / name
        if source.exists():
            shutil.move(str(source), str(target / "reports" / name))
    if (root / "artifacts").exists():
        shutil.move(str(root / "artifacts"), str(target / "artifacts"))
    return target


# --- what the runs say ---------------------------------------------------------------------


def _runs(folder: Path) -> list[tuple[int, dict[str, Any] | None]]:
    """Every run's folder with its results; None for a run that wrote none (or none that
    reads), which counts as a red run."""
    found: list[tuple[int, dict[str, Any] | None]] = []
    for run in folder.glob("run-*"):
        suffix = run.name.split("-", 1)[1]
        if not (run.is_dir() and suffix.isdigit()):
            continue
        try:
            data = json.loads((run / "reports" / "e2e-results.json").read_text())
        except (OSError, ValueError):
            data = None
        found.append((int(suffix), data if isinstance(data, dict) else None))
    return sorted(found, key=lambda item: item[0])


def _artifacts_of(run: Path, recorded: str | None) -> Path | None:
    if not recorded:
        return None
    parts = Path(recorded).parts
    if "artifacts" in parts:
        return run.joinpath(*parts[parts.index("artifacts") :])
    return None


def _entry(promise: str) -> dict[str, Any]:
    return {"promise": promise, "runs": 0, "passed": 0, "not_proven": 0, "failures": []}


def _failure(index: int, verdict) -> dict[str, Any]:
    return {"run": index, "owner": verdict.owner, "name": verdict.name,
            "evidence": verdict.evidence}  # fmt: skip


def tally(folder: Path = FOLDER) -> dict[str, Any]:
    """Per test and per promise: runs, passes, and each failure classified. A run that
    wrote no results, recorded no test, or ended other than passed/failed (interrupted, a
    failed bring-up before any test), counts as a failure of its own."""
    from harness import triage

    runs = _runs(folder)
    tests: dict[str, dict[str, Any]] = {}
    promises: dict[str, dict[str, Any]] = {}
    red: set[int] = set()
    for index, data in runs:
        records = ((data or {}).get("tests") or {}).values()
        exit_status = ((data or {}).get("finished") or {}).get("exit_status")
        if not records or exit_status not in (0, 1):
            red.add(index)
            if data is None:
                why = f"run {index} wrote no readable e2e-results.json (pytest stopped early)"
            else:
                why = (f"run {index} ended with exit status {exit_status}, {len(records)} "
                       "test(s) recorded")  # fmt: skip
            saved = run_folder(index, folder) / "artifacts"
            entry = tests.setdefault("(the run itself)", _entry("-"))
            entry["runs"] += 1
            entry["failures"].append(_failure(index, triage.classify(why, saved)))
        outcomes: dict[str, list[str]] = {}
        for record in records:
            entry = tests.setdefault(record.get("name", "?"), _entry(str(record.get("promise"))))
            outcome = record.get("outcome", "failed")
            entry["runs"] += 1
            outcomes.setdefault(entry["promise"], []).append(outcome)
            if outcome == "passed":
                entry["passed"] += 1
            elif outcome == "failed":
                red.add(index)
                saved = _artifacts_of(run_folder(index, folder), record.get("artifacts"))
                verdict = triage.classify(record.get("message", ""), saved)
                entry["failures"].append(_failure(index, verdict))
            else:
                entry["not_proven"] += 1
        for promise, seen in outcomes.items():
            summary = promises.setdefault(promise, {"runs": 0, "passed": 0, "not_proven": 0})
            summary["runs"] += 1
            if "failed" not in seen:
                summary["passed" if set(seen) == {"passed"} else "not_proven"] += 1
    owners = Counter(f["owner"] for t in tests.values() for f in t["failures"])
    return {"runs": len(runs), "red_runs": sorted(red), "tests": tests, "promises": promises,
            "failures_by_owner": dict(owners)}  # fmt: skip


def markdown(tally_: dict[str, Any]) -> str:
    runs = tally_["runs"]
    lines = [
        f"# e2e repeated: {runs} run(s), {len(tally_['red_runs'])} red "
        f"({', '.join(f'run {i}' for i in tally_['red_runs']) or 'none'})",
        "",
        "Flake rate of the leg: "
        f"{len(tally_['red_runs'])}/{runs} runs with a failure. Failures by owner: "
        + (", ".join(f"{k} {v}" for k, v in sorted(tally_["failures_by_owner"].items())) or "none"),
        "",
        "## Per promise", "", "| promise | runs | all passed | not proven | failed |",
        "|---|---:|---:|---:|---:|",
    ]  # fmt: skip
    for key, p in sorted(tally_["promises"].items(), key=lambda kv: int(kv[0]) if
                         kv[0].isdigit() else 99):  # fmt: skip
        failed = p["runs"] - p["passed"] - p["not_proven"]
        lines.append(f"| {key} | {p['runs']} | {p['passed']} | {p['not_proven']} | {failed} |")
    lines += ["", "## Per test", "", "| test | promise | passed / runs | failures |",
              "|---|---|---:|---|"]  # fmt: skip
    for name, t in sorted(tally_["tests"].items(), key=lambda kv: (kv[1]["promise"], kv[0])):
        failures = "; ".join(f"run {f['run']}: **{f['owner']}**: {f['name']} ({f['evidence']})"
                             for f in t["failures"]).replace("|", "\\|")  # fmt: skip
        lines.append(f"| {name} | {t['promise']} | {t['passed']} / {t['runs']} | {failures} |")
    return "\n".join(lines) + "\n"


def summarize(folder: Path = FOLDER) -> int:
    """Write the summary of the runs in `folder`; 0 when every run was green."""
    tally_ = tally(folder)
    (folder / "summary.json").write_text(json.dumps(tally_, indent=2))
    text = markdown(tally_)
    (folder / "summary.md").write_text(text)
    _page(folder, tally_)
    print(text)
    return 0 if tally_["runs"] and not tally_["red_runs"] else 1


def _page(folder: Path, tally_: dict[str, Any]) -> None:
    """index.html: the tally, then each run as a leg of its own."""
    try:
        from e2e import report as e2e_report
        from report import write
        from report.model import FAIL, PASS, Cell, Link, Links, Paragraph, Run, Section, Table
    except ImportError:  # the report's dependencies are not installed: markdown only
        return
    run = Run(kind="e2e", title=f"todo-app e2e, repeated {tally_['runs']} times")
    pages = []
    for index, data in _runs(folder):
        reports = run_folder(index, folder) / "reports"
        leg = e2e_report.read_leg(reports, data or {}, f"run {index}")
        leg.sections = []  # the run's pictures are on its own page, linked below
        for test in (t for promise in leg.promises for t in promise.tests):
            for artifact in test.artifacts:
                artifact.href = f"run-{index}/reports/{artifact.href}"
        run.legs.append(leg)
        if (reports / "index.html").exists():
            pages.append(Link(f"run {index}", f"run-{index}/reports/index.html"))
    rows = []
    for name, t in sorted(tally_["tests"].items(), key=lambda kv: (kv[1]["promise"], kv[0])):
        verdict = PASS if not t["failures"] else FAIL
        rows.append([name, t["promise"], Cell(f"{t['passed']} / {t['runs']}", verdict=verdict),
                     "; ".join(f"run {f['run']}: {f['owner']}: {f['name']} ({f['evidence']})"
                               for f in t["failures"])])  # fmt: skip
    owners = ", ".join(f"{k} {v}" for k, v in sorted(tally_["failures_by_owner"].items()))
    run.sections.insert(0, Section("repeat", "Runs, passes and failures", [
        Paragraph(f"{len(tally_['red_runs'])} of {tally_['runs']} runs had a failure; "
                  f"failures by owner: {owners or 'none'}."),
        Table(["test", "promise", "passed / runs", "failures (run: owner: what, evidence)"],
              rows, numeric=(2,)),
        Links(pages),
    ]))  # fmt: skip
    write(run, folder, "summary-page.md")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m e2e.repeat",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    collected = sub.add_parser("collect", help="move run INDEX's files to reports/repeat/run-INDEX")
    collected.add_argument("index", type=int)
    summary = sub.add_parser("summary", help="the runs in FOLDER, per test and per promise")
    summary.add_argument("folder", type=Path, nargs="?", default=FOLDER)
    args = parser.parse_args(argv)
    if args.command == "collect":
        print(collect(args.index))
        return 0
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder (give reports/repeat/)", file=sys.stderr)
        return 2
    return summarize(args.folder)


if __name__ == "__main__":
    sys.exit(main())
