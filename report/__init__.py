"""The page a person opens after a run, and the markdown summary beside it.

One model of a run (`report.model`), read from what the run recorded by the
suite that knows those files (`e2e.report`, `perf.report`), rendered twice:
`report.html` (one self-contained page, `index.html`) and `report.markdown`
(the summary file, and GitHub's step summary when `$GITHUB_STEP_SUMMARY` is
set). pytest's JUnit XML is the third rendering, left to pytest.

`write(run, folder, markdown_name)` writes both; `python -m report [FOLDER]`
(`nox -s report`) reads a run's folder again and writes them anew.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from report import html, markdown
from report.model import Figure, Run

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


@dataclass
class Written:
    page: Path
    markdown: Path
    figures: list[Path]


def figures_of(run: Run) -> list[Figure]:
    sections = [run.timeline] if run.timeline else []
    sections += [s for leg in run.legs for s in leg.sections] + run.sections
    return [b for s in sections for b in s.blocks if isinstance(b, Figure)]


def write(run: Run, folder: Path, markdown_name: str, *, step_summary: bool = False) -> Written:
    """index.html and the markdown (its plots under figures/) into `folder`; with
    `step_summary`, the markdown also goes to GitHub's step summary when the variable names
    a file (asked for once per run: by the last writer of its page)."""
    folder.mkdir(parents=True, exist_ok=True)
    figures_dir = folder / "figures"
    figures_dir.mkdir(exist_ok=True)
    for old in figures_dir.glob("*.svg"):
        old.unlink()
    written = []
    for figure in figures_of(run):
        path = figures_dir / f"{figure.name}.svg"
        path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + figure.svg)
        written.append(path)
    md = folder / markdown_name
    md.write_text(markdown.render(run))
    page = folder / "index.html"
    page.write_text(html.render(run))
    summary_file = os.environ.get(STEP_SUMMARY_ENV, "").strip()
    if step_summary and summary_file:
        with open(summary_file, "a") as fh:
            fh.write(markdown.render(run, figures=False) + "\n")
    return Written(page, md, written)
