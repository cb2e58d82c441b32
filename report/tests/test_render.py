"""The model's two renderings: escaping, marks, the run's verdict, step summary, plots."""

from __future__ import annotations

import re

import pytest

from report import bring_up, html, markdown, plots, timeline, write
from report.model import (
    FAIL,
    INCOMPLETE,
    NOT_APPLICABLE,
    PASS,
    Cell,
    Fact,
    Leg,
    Paragraph,
    Phase,
    Preformatted,
    Promise,
    Run,
    Section,
    Table,
    TestResult,
)

HOSTILE = '<script>alert(1)</script> & "quotes" | pipes'


def _run(**kwargs) -> Run:
    failed = TestResult("test_x[<b>]", FAIL, "failed", 1.0, message=HOSTILE, where="e2e/a.py:3")
    leg = Leg(
        "only",
        promises=[Promise("1", f"install {HOSTILE}", FAIL, [failed])],
        sections=[
            Section(
                "s",
                "Section",
                [
                    Paragraph(HOSTILE),
                    Preformatted(HOSTILE),
                    Table(["a"], [[Cell(HOSTILE, href="x y.txt")]]),
                ],
            )
        ],
    )
    return Run(
        kind="e2e", title="t", decided=[Fact("Values", HOSTILE, why=HOSTILE)], legs=[leg], **kwargs
    )


def test_everything_the_run_recorded_is_escaped_on_the_page():
    page = html.render(_run())
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "test_x[&lt;b&gt;]" in page


def test_only_the_two_marks_become_markup():
    assert str(html.inline("**a** `b` <i>c</i>")) == (
        "<strong>a</strong> <code>b</code> &lt;i&gt;c&lt;/i&gt;"
    )


def test_markdown_keeps_table_cells_on_one_line_and_fences_messages():
    text = markdown.render(_run())
    row = next(line for line in text.splitlines() if line.startswith("| [&lt;script"))
    assert "\\| pipes" in row
    message = "\n".join(["a ``` b", "second line"])
    run = _run()
    run.legs[0].promises[0].tests[0].message = message
    text = markdown.render(run)
    assert "````text\na ``` b\nsecond line\n````" in text


@pytest.mark.parametrize(
    ("verdicts", "missing", "expected"),
    [
        ([PASS, NOT_APPLICABLE], [], PASS),
        ([PASS, FAIL], ["interrupted"], FAIL),
        ([PASS], ["interrupted"], INCOMPLETE),
        ([], ["no e2e run recorded here"], INCOMPLETE),
    ],
)
def test_the_run_verdict_is_its_worst_promise_or_incomplete(verdicts, missing, expected):
    leg = Leg("l", promises=[Promise(str(i), "p", v) for i, v in enumerate(verdicts)])
    assert Run(kind="e2e", title="t", legs=[leg], missing=missing).verdict == expected


def test_the_step_summary_gets_the_markdown_only_when_asked(tmp_path, monkeypatch):
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = _run()
    fig, ax = plots.figure()
    ax.plot([0, 1], [0, 1])
    run.legs[0].sections[0].blocks.append(plots.make("line", "A line", fig))
    written = write(run, tmp_path / "out", "summary.md")
    assert not summary.exists()
    assert (tmp_path / "out" / "figures" / "line.svg").exists()
    assert "![A line](figures/line.svg)" in written.markdown.read_text()
    write(run, tmp_path / "out", "summary.md", step_summary=True)
    appended = summary.read_text()
    assert appended.startswith("# t: FAIL")
    assert "figures/line.svg" not in appended


def test_plots_are_inline_svg_with_ids_of_their_own():
    svgs = []
    for name in ("first", "second"):
        fig, ax = plots.figure()
        ax.plot([0, 1, 2], [3, 1, 2])
        svgs.append(plots.to_svg(fig, name))
    for svg in svgs:
        assert svg.startswith("<svg") and "<?xml" not in svg and "viewBox" in svg
        assert ' width="' not in svg.split(">", 1)[0]
    ids = [re.findall(r'id="([^"]+)"', svg) for svg in svgs]
    assert ids[0] and not set(ids[0]) & set(ids[1])
    for svg, own in zip(svgs, ids, strict=True):
        assert len(own) == len(set(own))
        assert all(f"#{i}" in svg for i in own)  # only ids something points at


def test_steps_go_to_the_stage_they_started_in():
    steps = [
        Phase("python deps", 0, 0.0, 4.0, "ok"),
        Phase("cluster up", 0, 20.0, 15.0, "ok"),
        Phase("load run (Locust)", 0, 80.0, 60.0, "ok"),
        Phase("cluster delete", 0, 300.0, 5.0, "ok"),
        Phase("report", 0, 306.0, 3.0, "ok"),
    ]
    staged = timeline.stages(steps, bring_up_from=19.0, tests_from=60.0, teardown_from=299.0)
    assert [p.stage for p in staged] == ["prepare", "bring-up", "tests", "teardown", "report"]
    nothing_ran = timeline.stages(
        [Phase("images", 0, 5.0, 1.0, "failed")],
        bring_up_from=None,
        tests_from=None,
        teardown_from=None,
    )
    assert nothing_ran[0].stage == "prepare"


def test_a_failure_that_lists_its_causes_names_the_first_in_its_headline():
    message = (
        "HarnessError: pods in ns cannot pull their images:\n"
        "  - pod backend-1: image r/todo-app:gone: ErrImagePull\n"
        "  - pod frontend-1: image r/todo-app:gone: ErrImagePull\n"
        "  - pod mcp-1: image r/todo-app:gone: ErrImagePull"
    )
    listed = TestResult("test_upgrade", FAIL, "failed", message=message)
    assert listed.headline == (
        "HarnessError: pods in ns cannot pull their images: "
        "pod backend-1: image r/todo-app:gone: ErrImagePull (and 2 more)"
    )
    plain = TestResult("test_x", FAIL, "failed", message="AssertionError: 503\nassert 503 == 201")
    assert plain.headline == "AssertionError: 503"


def test_the_app_image_is_shown_by_its_digest_not_the_runtimes_import_name():
    imported = "docker.io/library/import-2026-12-06@sha256:3d1c"
    facts = bring_up.versions(
        {
            "choice": {"images": {"app": "todo-app:dev"}},
            "versions": {"app_image_ids": {"backend-1/backend": imported, "mcp-1/mcp": imported}},
        }
    )
    (app,) = [f for f in facts if f.label == "App image"]
    assert app.value == "`todo-app:dev`: `sha256:3d1c`"


def test_rebuilding_a_folder_that_holds_no_run_writes_nothing(tmp_path, capsys):
    from report.__main__ import main

    assert main([str(tmp_path)]) == 2
    assert "holds no run's recorded files" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
