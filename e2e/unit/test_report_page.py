"""The e2e page as a person opens it: built from a recorded run, in the real browser.

Each recorded run (a passing one, one with a failed promise) is copied, its page
written, and opened from the file system in Chromium through Playwright: every
section is there, nothing is requested outside the run's files, the console stays
clean, and a failed promise's links lead to the files saved for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from e2e import report
from report.tests.page import open_page

FIXTURES = Path(__file__).with_name("fixtures")
SECTIONS = [
    "run",
    "timeline",
    "promises",
    "startup",
    "hpa",
    "resources",
    "rollouts",
    "faults",
    "netpol",
    "helm-test",
    "files",
]


@pytest.fixture
def page_of(tmp_path, tab):
    def build(name: str):
        shutil.copytree(FIXTURES / name, tmp_path / name)
        written = report.write(tmp_path / name / "reports")
        return open_page(tab, written.page)

    return build


def test_a_passing_run_shows_every_section_and_its_screenshots(page_of):
    opened = page_of("passing-run")
    page = opened.page
    assert page.locator("h1 .badge").inner_text() == "PASS"
    assert page.title() == (
        "todo-app e2e (Kubernetes v1.34.0, harness/values-kind.yaml, 1 node(s)): PASS"
    )
    ids = opened.section_ids()
    for section in [*SECTIONS, "frontend"]:
        assert section in ids, section
    assert page.locator("#run dt", has_text="Kubernetes (server)").count() == 1
    assert page.locator("table.promises tbody tr").count() == 14
    assert page.locator("section figure.plot svg").count() == 5  # timeline, startup, hpa, ...
    shots = page.locator("#frontend img")
    assert shots.count() == 3
    for i in range(3):
        assert shots.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    assert not page.locator(".incomplete").count()
    assert opened.outside == [] and opened.errors == []


def test_a_failed_promise_links_the_files_saved_when_it_failed(page_of):
    opened = page_of("failing-run")
    page = opened.page
    assert page.locator("h1 .badge").inner_text() == "FAIL"
    row = page.locator("table.promises tr.fail")
    assert row.count() == 1 and row.locator("td").first.inner_text() == "8"
    failure = page.locator("article.failure")
    anchor = "#" + failure.get_attribute("id")
    assert row.get_by_role("link").get_attribute("href") == anchor  # the row's reason
    first = page.locator("header .failed a")  # the first thing on the page
    assert first.count() == 1
    first.click()
    assert page.url.endswith(anchor)
    assert "acknowledged writes lost" in failure.locator("pre.message").inner_text()
    links = failure.locator("ul.artifacts a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) == 13
    for href in hrefs:
        assert opened.linked_file(href).is_file(), href
    logs = failure.get_by_role("link", name="logs-todo-backend-5f7c8d-q9wzl-backend.txt")
    logs.click()
    assert "answered 502" in page.locator("body").inner_text()
    assert opened.outside == [] and opened.errors == []


def test_the_printed_page_leaves_out_the_navigation(page_of):
    page = page_of("failing-run").page
    assert page.locator("nav").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("nav").is_visible()
    assert page.locator("article.failure pre.message").is_visible()
