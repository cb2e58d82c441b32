"""`nox -s perf -- --repeat N`: the same perf run N times, and what the N runs say together.

The runs share perf's kept cluster (`todo-perf`), each in a namespace of its
own with a fresh release: that is how perf is run (its cluster outlives a
run), and the figures compare runs, not bring-ups. Each run writes its folder
`reports/perf-repeat/run-<i>/` as a single run does (summary.json, exit.json,
the page); `summarize()` writes `reports/perf-repeat/summary.md` and
`summary.json`: per run, whether it ended green (exit status 0: every phase
completed, every SLO met, no regression it fails on), the errors by kind; per
SLO, how many runs met it; each failure classified by `harness.triage`. A run
folder without summary.json or exit.json (the run stopped before its end) is a
red run.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from perf import EXIT_FILE

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "reports" / "perf-repeat"


def run_folder(index: int, folder: Path = FOLDER) -> Path:
    return folder / f"run-{index}"


def _run_folders(folder: Path) -> list[tuple[int, Path]]:
    """Every run's folder, in run order, whatever it holds."""
    found = [(int(p.name.split("-", 1)[1]), p) for p in folder.glob("run-*")
             if p.is_dir() and p.name.split("-", 1)[1].isdigit()]  # fmt: skip
    return sorted(found)


def _read(path: Path) -> dict[str, Any]:
    """A JSON object a run wrote; {} when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _failure(what: str, saved: Path | None = None) -> dict[str, str]:
    """One failure of a run, classified by `harness.triage` from what the run saved."""
    from harness import triage

    verdict = triage.classify(what, saved)
    return {"what": what, "owner": verdict.owner, "name": verdict.name,
            "evidence": verdict.evidence}  # fmt: skip


def tally(folder: Path = FOLDER) -> dict[str, Any]:
    runs = []
    slos: dict[str, dict[str, int]] = {}
    errors: Counter[str] = Counter()
    for index, run in _run_folders(folder):
        data, ended = _read(run / "summary.json"), _read(run / EXIT_FILE)
        meta, phases = data.get("meta") or {}, data.get("phases") or {}
        failures = []
        if not data:
            # The run's folder holds whatever it wrote (Locust's log, each worker's).
            why = f"run {index} wrote no readable summary.json (it stopped early)"
            failures.append(_failure(why, run))
        elif meta.get("incomplete"):
            failures.append(_failure(meta["incomplete"], run))
        main = phases.get("main") or {}
        failures += [_failure(v) for v in main.get("violations") or []]
        if data and not failures and ended.get("exit_status") != 0:
            why = (f"run {index} exited with {ended['exit_status']}: {ended.get('reason')}"
                   if ended else f"run {index} recorded no exit status (it stopped before its "
                   "end)")  # fmt: skip
            failures.append(_failure(why, run))
        for endpoint in main.get("endpoints") or {}:
            entry = slos.setdefault(endpoint, {"runs": 0, "met": 0})
            entry["runs"] += 1
            missed = any(v.startswith(f"{endpoint}:") for v in main.get("violations") or [])
            entry["met"] += not missed
        aggregated = (main.get("endpoints") or {}).get("Aggregated") or {}
        errors.update(aggregated.get("errors_by_kind") or {})
        runs.append({"run": index, "phases": sorted(phases), "asked": meta.get("phases_asked"),
                     "green": not failures, "failures": failures,
                     "errors_by_kind": aggregated.get("errors_by_kind") or {}})  # fmt: skip
    owners = Counter(f["owner"] for r in runs for f in r["failures"])
    return {"runs": runs, "slos": slos, "errors_by_kind": dict(errors.most_common()),
            "failures_by_owner": dict(owners)}  # fmt: skip


def markdown(tally_: dict[str, Any]) -> str:
    runs = tally_["runs"]
    red = [r["run"] for r in runs if not r["green"]]
    lines = [
        f"# perf repeated: {len(runs)} run(s), {len(red)} red "
        f"({', '.join(f'run {i}' for i in red) or 'none'})", "",
        "Failures by owner: " + (", ".join(f"{k} {v}" for k, v in
                                           sorted(tally_["failures_by_owner"].items())) or "none"),
        "", "Errors of every run, by kind: " + (", ".join(
            f"{k} {v}" for k, v in tally_["errors_by_kind"].items()) or "none"), "",
        "| run | phases done | SLOs met | errors by kind | failures |", "|---:|---|---|---|---|",
    ]  # fmt: skip
    for r in runs:
        failures = "; ".join(f"**{f['owner']}**: {f['name']} ({f['evidence']})"
                             for f in r["failures"]).replace("|", "\\|")  # fmt: skip
        kinds = ", ".join(f"{k} {v}" for k, v in r["errors_by_kind"].items()) or "none"
        lines.append(f"| {r['run']} | {', '.join(r['phases'])} | "
                     f"{'yes' if r['green'] else 'no'} | {kinds} | {failures} |")  # fmt: skip
    lines += ["", "| endpoint | runs | SLO met |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {s['runs']} | {s['met']} |" for name, s in sorted(tally_["slos"].items())
    ]
    return "\n".join(lines) + "\n"


def summarize(folder: Path = FOLDER) -> int:
    tally_ = tally(folder)
    (folder / "summary.json").write_text(json.dumps(tally_, indent=2))
    text = markdown(tally_)
    (folder / "summary.md").write_text(text)
    print(text)
    return 0 if tally_["runs"] and all(r["green"] for r in tally_["runs"]) else 1


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m perf.repeat",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path, nargs="?", default=FOLDER)
    folder = parser.parse_args(argv).folder
    if not folder.is_dir():
        print(f"{folder}: no such folder (give reports/perf-repeat/)", file=sys.stderr)
        return 2
    return summarize(folder)


if __name__ == "__main__":
    sys.exit(main())
