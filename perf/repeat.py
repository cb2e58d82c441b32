"""`nox -s perf -- --repeat N`: the same perf run N times, and what the N runs say together.

The runs share perf's kept cluster (`todo-perf`), each in a namespace of its
own with a fresh release: that is how perf is run (its cluster outlives a
run), and the figures compare runs, not bring-ups. Each run writes its folder
`reports/perf-repeat/run-<i>/` as a single run does (summary.json, the page);
`summarize()` writes `reports/perf-repeat/summary.md` and `summary.json`: per
run, whether every phase completed and every SLO was met, the errors by kind;
per SLO, how many runs met it; each failure classified by `harness.triage`.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "reports" / "perf-repeat"


def run_folder(index: int, folder: Path = FOLDER) -> Path:
    return folder / f"run-{index}"


def tally(folder: Path = FOLDER) -> dict[str, Any]:
    from harness import triage

    runs = []
    slos: dict[str, dict[str, int]] = {}
    errors: Counter[str] = Counter()
    for path in sorted(folder.glob("run-*/summary.json"),
                       key=lambda p: int(p.parent.name.split("-", 1)[1])):  # fmt: skip
        index = int(path.parent.name.split("-", 1)[1])
        data = json.loads(path.read_text())
        meta, phases = data.get("meta") or {}, data.get("phases") or {}
        failures = []
        if meta.get("incomplete"):
            # The run's folder holds its logs (Locust's, each in-cluster worker's).
            verdict = triage.classify(meta["incomplete"], path.parent)
            failures.append({"what": meta["incomplete"], "owner": verdict.owner,
                             "name": verdict.name, "evidence": verdict.evidence})  # fmt: skip
        main = phases.get("main") or {}
        for violation in main.get("violations") or []:
            verdict = triage.classify(violation)
            failures.append({"what": violation, "owner": verdict.owner, "name": verdict.name,
                             "evidence": verdict.evidence})  # fmt: skip
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
    return summarize(parser.parse_args(argv).folder)


if __name__ == "__main__":
    sys.exit(main())
