"""The run as markdown: the summary file next to the page, and GitHub's step summary.

The same sections as the page, in the same order. Plots are files next to the
markdown (`figures/<name>.svg`); the step summary leaves them out (GitHub
shows only the text of a step summary; the page is in the run's artifact).
"""

from __future__ import annotations

import re

from report.html import duration, when
from report.model import FAIL, PASS, Block, Run, Section


def _text(text: object) -> str:
    """Running text: markdown's own marks kept, raw HTML neutralised."""
    return str(text).replace("<", "&lt;")


def _cell(cell) -> str:
    if isinstance(cell, str):
        text, verdict, href = cell, None, None
    else:
        text, verdict, href = cell.text, cell.verdict, cell.href
    text = _text(text).replace("|", "\\|").replace("\n", " ")
    if href:
        text = f"[{text}]({href})"
    if verdict:
        text = f"**{verdict}** {text}".rstrip()
    return text


def _table(columns: list[str], rows: list[list], numeric=()) -> list[str]:
    align = ["---:" if i in numeric else "---" for i in range(len(columns))]
    out = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _fence(text: str, info: str = "text") -> list[str]:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", text.rstrip("\n"), fence, ""]


def _block(block: Block, figures: bool) -> list[str]:
    kind = type(block).__name__
    if kind == "Paragraph":
        return [_text(block.text), ""]
    if kind == "Bullets":
        return [*(f"- {_text(item)}" for item in block.items), ""]
    if kind == "Table":
        caption = [_text(block.caption), ""] if block.caption else []
        return caption + _table(block.columns, block.rows, block.numeric)
    if kind == "Figure":
        if not figures:
            return []
        caption = f" {_text(block.caption)}" if block.caption else ""
        return [f"![{block.title}](figures/{block.name}.svg)", "", f"*{block.title}.*{caption}", ""]
    if kind == "Screenshots":
        if not figures:
            return []
        return [*(f"![{s.caption}]({s.src})" for s in block.shots), ""]
    if kind == "Preformatted":
        if block.summary:
            return [
                f"<details><summary>{_text(block.summary)}</summary>",
                "",
                *_fence(block.text),
                "</details>",
                "",
            ]
        return _fence(block.text)
    if kind == "Links":
        return [*(f"- [{_text(link.text)}]({link.href})" for link in block.links), ""]
    raise TypeError(f"no markdown for {kind}")


def _section(section: Section, figures: bool, level: int = 2) -> list[str]:
    out = [f"{'#' * level} {section.title}", ""]
    for block in section.blocks:
        out += _block(block, figures)
    return out


def render(run: Run, *, figures: bool = True) -> str:
    """The run as markdown; `figures=False` for GitHub's step summary."""
    counts = run.counts()
    head = []
    if counts:
        head.append(
            f"{sum(counts.values())} promises: "
            + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        )
    head.append(f"started {when(run.started)}, took {duration(run.seconds)}")
    if run.commit:
        head.append(f"commit `{run.commit}`")
    if run.run_id:
        head.append(f"run `{run.run_id}`")
    out = [f"# {run.title}: {run.verdict}", "", "; ".join(head), ""]
    failures = run.failures()
    if failures:
        out += ["**Failed:**", ""]
        out += [
            f"- promise {p.key}"
            + (f" ({leg.name})" if len(run.legs) > 1 else "")
            + f", `{t.name}`: {_text(t.headline)}"
            for leg, p, t in failures
        ]
        out.append("")
    if run.missing:
        out += ["> **Incomplete**: this shows what the run recorded before it stopped.", ">"]
        out += [f"> - {_text(why)}" for why in run.missing]
        out.append("")
    out += ["## The run", ""]
    for title, facts in (("Decided once", run.decided), ("Versions", run.versions)):
        if facts:
            out += [f"**{title}**", ""]
            out += [
                f"- {f.label}: {_text(f.value)}" + (f" ({_text(f.why)})" if f.why else "")
                for f in facts
            ]
            out.append("")
    if run.timeline:
        out += _section(run.timeline, figures)
    several = len(run.legs) > 1
    for leg in run.legs:
        level = 2
        if several:
            out += [f"## Leg: {leg.name}: {leg.verdict}", ""]
            out += [f"- {f.label}: {_text(f.value)}" for f in leg.facts]
            out += [""] if leg.facts else []
            level = 3
        if leg.promises:
            out += [f"{'#' * level} Promises", ""]
            rows = []
            for p in leg.promises:
                why = "; ".join(
                    f"{t.name}: {t.headline if t.verdict == FAIL else t.outcome}"
                    for t in p.tests
                    if t.verdict != PASS
                )
                rows.append(
                    [
                        p.key,
                        p.title,
                        f"**{p.verdict}**",
                        str(len(p.tests)),
                        duration(p.seconds),
                        why,
                    ]
                )
            out += _table(
                ["#", "promise", "verdict", "tests", "time", "why not a pass"],
                rows,
                numeric=(0, 3, 4),
            )
            for p in leg.promises:
                for t in p.tests:
                    if t.verdict != FAIL:
                        continue
                    out += [f"{'#' * (level + 1)} FAIL: promise {p.key}, `{t.name}`", ""]
                    if t.where:
                        out += [f"at `{t.where}`", ""]
                    out += _fence(t.message or "failed (no message recorded)")
                    if t.artifacts:
                        out += [
                            "Artifacts: " + ", ".join(f"[{a.text}]({a.href})" for a in t.artifacts),
                            "",
                        ]
        for section in leg.sections:
            out += _section(section, figures, level)
    for section in run.sections:
        out += _section(section, figures)
    if run.files:
        out += ["## Files", "", *(f"- [{f.text}]({f.href})" for f in run.files), ""]
    return "\n".join(out)
