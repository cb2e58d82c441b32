"""`python -m report [FOLDER ...]`: write a run's page and markdown again from its files.

FOLDER is an e2e run's `reports/` (the default) or a perf run's folder
(`reports/perf/<timestamp>/`, known by its `summary.json`). No cluster is needed:
everything comes from what the run recorded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolchain.progress import step

ROOT = Path(__file__).resolve().parents[1]


def rebuild(folder: Path, *, step_summary: bool = False):
    """The page and markdown of the run recorded in `folder`."""
    if (folder / "summary.json").exists() or folder.parent.name == "perf":
        from perf.report import write
    else:
        from e2e.report import write
    return write(folder, step_summary=step_summary)


def _holds_a_run(folder: Path) -> bool:
    recorded = ("summary.json", "e2e-results.json", "e2e-phases.jsonl")
    return folder.parent.name == "perf" or any((folder / name).exists() for name in recorded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "folders",
        nargs="*",
        type=Path,
        default=[ROOT / "reports"],
        help="reports/ (e2e, the default) or reports/perf/<timestamp>/",
    )
    parser.add_argument(
        "--step-summary",
        action="store_true",
        help="also append the markdown to $GITHUB_STEP_SUMMARY when it is set",
    )
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not folder.is_dir():
            print(
                f"{folder}: no such folder (give reports/ or a perf run's folder)", file=sys.stderr
            )
            return 2
        if not _holds_a_run(folder):
            print(
                f"{folder}: holds no run's recorded files (e2e-results.json, e2e-phases.jsonl, "
                "or a perf run's summary.json): give reports/ or reports/perf/<timestamp>/",
                file=sys.stderr,
            )
            return 2
        with step("report"):
            written = rebuild(folder, step_summary=args.step_summary)
        size = written.page.stat().st_size // 1024
        print(f"{written.page} ({size} KiB), {written.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
