"""A perf run's page as a person opens it: built from a recorded run, in the real browser.

The fixture is a real `python -m perf --local` run, shortened (20 users, 60 s main
phase, 3 capacity steps, 10 s ceiling runs); Locust's own HTML pages (about 1 MB
each) are replaced by small stand-ins so its links can be followed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from perf import report
from report.tests.page import open_page

RECORDED = Path(__file__).with_name("fixtures") / "perf-run"


def test_a_perf_run_page_shows_slos_plots_capacity_baseline_and_locust(tmp_path, tab):
    folder = tmp_path / "perf" / "20261206T023225Z"
    shutil.copytree(RECORDED, folder)
    opened = open_page(tab, report.write(folder).page)
    page = opened.page
    assert page.locator("h1 .badge").inner_text() == "PASS"
    ids = opened.section_ids()
    for section in (
        "run",
        "timeline",
        "glance",
        "slo",
        "over-time",
        "hpa",
        "capacity",
        "ceiling",
        "baseline",
        "locust",
        "files",
    ):
        assert section in ids, section
    slo_rows = page.locator("#slo tbody tr")
    assert slo_rows.count() == 17  # 16 endpoints and the aggregate
    assert page.locator("#slo .badge.pass").count() == 12
    assert page.locator("#over-time figure.plot svg").count() == 2
    assert page.locator("#baseline .badge.fail", has_text="REGRESSION").count() > 0
    links = page.locator("#locust a")
    assert links.count() == 4
    for i in range(4):
        assert opened.linked_file(links.nth(i).get_attribute("href")).is_file()
    links.first.click()
    assert "Locust's own HTML report" in page.locator("body").inner_text()
    assert opened.outside == [] and opened.errors == []
