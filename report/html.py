"""The run as one self-contained HTML page: styles and plots inline, no script, no request.

Rendered with Jinja2 (autoescaping on): every string of the run is escaped;
only the plots' SVG (made by matplotlib from numbers and escaped labels) is
inserted as markup. A Content-Security-Policy in the page itself forbids any
request but the run's own image files, so a page cannot reach the network
even if a later change tried to. Links to the run's files (artifacts, Locust's
HTML, other runs) are relative, so the page works from the file system and
from an unpacked CI artifact.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from report.model import FAIL, INCOMPLETE, NOT_APPLICABLE, NOT_PROVABLE, NOT_RUN, PARTLY, PASS, Run

TEMPLATES = Path(__file__).with_name("templates")
VERDICT_CLASS = {
    PASS: "pass",
    FAIL: "fail",
    NOT_PROVABLE: "unproven",
    PARTLY: "part",
    NOT_APPLICABLE: "na",
    NOT_RUN: "notrun",
    INCOMPLETE: "incomplete",
    "REGRESSION": "fail",
}
_MARKS = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")


def inline(text: object) -> Markup:
    """Escape, then turn the model's two marks into <strong> and <code>."""

    def mark(found: re.Match) -> str:
        strong, code = found.groups()
        return f"<strong>{strong}</strong>" if strong is not None else f"<code>{code}</code>"

    # Escaped first; the only markup added is <strong> and <code> around escaped text.
    return Markup(_MARKS.sub(mark, str(escape(str(text)))))  # noqa: S704


def verdict_class(verdict: str | None) -> str:
    return VERDICT_CLASS.get(verdict or "", "other")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def when(unix: float | None) -> str:
    if unix is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(inline=inline, verdict_class=verdict_class, duration=duration, when=when)
    env.tests["kind"] = lambda block, name: type(block).__name__ == name
    return env


def render(run: Run) -> str:
    template = _environment().get_template("page.html.j2")
    return template.render(run=run, generated=time.time(), slug=slug)


def slug(text: str) -> str:
    """An anchor made of a title: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
