"""The run's browser: decided once with the image source, and the one pytest-playwright drives."""

from __future__ import annotations

import re
import subprocess

import pytest

from toolchain import browser, decide


def _never() -> bool:
    raise AssertionError("the registry was probed although the source was given")


@pytest.mark.parametrize(("source", "expected"), [("local", "system"), ("upstream", "playwright")])
def test_the_image_source_picks_the_browser(source: str, expected: str) -> None:
    assert browser.decide({}, source)[0] == expected


def test_an_override_wins_and_a_bad_one_names_the_choices() -> None:
    assert browser.decide({"TODO_BROWSER": " System "}, "upstream")[0] == "system"
    with pytest.raises(browser.BrowserError, match="'system'.*'playwright'"):
        browser.decide({"TODO_BROWSER": "firefox"}, "local")


def test_the_run_choice_carries_the_browser_to_every_process() -> None:
    choice = decide.decide(
        {"TODO_IMAGE_SOURCE": "local", "TODO_NETPOL_ENFORCER": "kube-router"}, probe=_never
    )
    assert (choice.browser, choice.browser_reason.startswith("no registry")) == ("system", True)
    assert decide.current_browser(choice.env()) == "system"
    assert decide.current_browser({"TODO_BROWSER": "playwright"}) == "playwright"
    with pytest.raises(decide.DecisionError, match="TODO_BROWSER"):
        decide.decide({"TODO_IMAGE_SOURCE": "local", "TODO_BROWSER": "lynx"}, probe=_never)


def test_debians_chromium_is_launched_by_its_own_binary_path() -> None:
    args = browser.launch_args("system")
    assert args["executable_path"] == "/usr/lib/chromium/chromium"
    assert "--disable-background-networking" in args["args"]
    assert "executable_path" not in browser.launch_args("playwright")


def test_the_browser_tests_drive_the_runs_browser(tab, tmp_path) -> None:
    """A browser test's `tab` runs in the browser the run chose (offline: Debian's
    Chromium, whose version is the package's, not Playwright's own build's)."""
    page = tab
    html = tmp_path / "hello.html"
    html.write_text("<!doctype html><title>t</title><p id=greeting>hello from a file</p>")
    page.goto(html.as_uri())
    assert page.locator("#greeting").inner_text() == "hello from a file"
    if decide.current_browser() == "system":
        package = subprocess.run(  # noqa: S603 - the binary the run launches
            [str(browser.SYSTEM_CHROMIUM), "--version"], capture_output=True, text=True, check=True
        ).stdout
        major = re.search(r"(\d+)\.", package).group(1)
        assert page.context.browser.version.split(".")[0] == major
