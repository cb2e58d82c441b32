"""Plots as inline SVG (matplotlib, no display), and the one chart every run has: its timeline.

Text stays text in the SVG (`svg.fonttype: none`), so a plot is a few tens of
kilobytes and its labels can be searched and copied. Each figure gets its own
id salt, so the ids inside several SVGs on one page never collide. Figures are
matplotlib `Figure`s made without pyplot (nothing global keeps them), turned into
SVG only when a rendering asks (`make`): that is most of a plot's cost.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MultipleLocator

from report.model import Figure, Phase

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",
        # Lay text out by the font's own widths (as the browser draws the SVG), not by the
        # narrower hinted widths of a raster: long tick labels would overflow the figure.
        "text.hinting": "no_hinting",
        "text.parse_math": False,  # pod and endpoint names are shown as written
        "font.sans-serif": ["DejaVu Sans"],  # one name in each SVG text, not matplotlib's list
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.fontsize": 8,
        "legend.frameon": False,
    }
)

# Colours that stay apart for colour-blind readers (Okabe-Ito), by meaning.
COLOURS = {
    "prepare": "#999999",
    "bring-up": "#0072B2",
    "tests": "#009E73",
    "teardown": "#CC79A7",
    "report": "#E69F00",
    "failed": "#D55E00",
    "ok": "#009E73",
    "load": "#56B4E9",
    "limit": "#D55E00",
    "request": "#0072B2",
}
STAGES = ("prepare", "bring-up", "tests", "teardown", "report")
_DECIMALS = re.compile(r"(\d\.\d\d)\d+")


def figure(rows: int = 1, cols: int = 1, *, width: float = 9.0, height: float = 3.2, **kwargs):
    """A new matplotlib figure and its axes (as `plt.subplots` returns them)."""
    fig = MplFigure(figsize=(width, height))
    return fig, fig.subplots(rows, cols, **kwargs)


def to_svg(fig: MplFigure, name: str) -> str:
    """The figure as an <svg> element for inline use (no XML prolog, sized by CSS)."""
    fig.tight_layout()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # The viewBox keeps the aspect ratio; CSS sets the width.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    # Several plots share a page: keep only the ids something points at (clip paths and
    # markers, salted per figure above), not matplotlib's xtick_1, line2d_3, ...
    used = set(re.findall(r"#([\w.-]+)", text))
    text = re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in used else "", text)
    # A third smaller: no indentation, and coordinates in the tags (never the text shown)
    # to 1/100 pt, far below a pixel.
    text = re.sub(r"\n\s+", "\n", text)
    return re.sub(r"<[^>]+>", lambda tag: _DECIMALS.sub(r"\1", tag.group(0)), text)


def make(name: str, title: str, fig: MplFigure, caption: str = "") -> Figure:
    """The model's figure of `fig`, its SVG made when first rendered."""
    return Figure(name=name, title=title, draw=lambda: to_svg(fig, name), caption=caption)


def clock(seconds: float, _position=None) -> str:
    """Seconds as m:ss (or h:mm:ss) for a time axis."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def timeline(bars: Sequence[Phase], name: str = "timeline") -> Figure | None:
    """One bar per step, on the run's wall clock, coloured by stage; failed steps outlined
    in red and hatched."""
    bars = [b for b in bars if b.seconds is not None]
    if not bars:
        return None
    start = min(b.started for b in bars)
    fig, ax = figure(width=9.5, height=0.6 + 0.24 * len(bars))
    for row, bar in enumerate(bars):
        failed = bar.status == "failed"
        ax.barh(
            row,
            max(bar.seconds, 0.3),
            left=bar.started - start,
            height=0.7,
            color=COLOURS.get(bar.stage, COLOURS["prepare"]),
            edgecolor=COLOURS["failed"] if failed else "none",
            hatch="///" if failed else None,
            linewidth=1.2,
        )
    ax.set_yticks(range(len(bars)), [_label(b) for b in bars])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_formatter(FuncFormatter(clock))
    ax.set_xlabel("wall time since the run started (m:ss)")
    seen = [s for s in STAGES if any(b.stage == s for b in bars)]
    handles = [Rectangle((0, 0), 1, 1, color=COLOURS[s]) for s in seen]
    labels = list(seen)
    if any(b.status == "failed" for b in bars):
        handles.append(
            Rectangle((0, 0), 1, 1, facecolor="white", hatch="///", edgecolor=COLOURS["failed"])
        )
        labels.append("failed")
    ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(labels))
    span = max(b.started + b.seconds for b in bars) - start
    step = next((s for s in (10, 15, 30, 60, 120, 300, 600, 1200) if span / s <= 10), 1800)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    return make(name, "Timeline", fig, "Each step of each process, as it ran.")


def _label(bar: Phase) -> str:
    name = bar.name if len(bar.name) <= 44 else bar.name[:43] + "…"
    return f"{name} ({bar.status})" if bar.status not in ("ok", "cached", "passed") else name
