"""Opening a report page in the real browser as a person would, watching what it does.

`open_page(page, path)` loads the file in a Playwright page (the harness's `tab`) with every
request routed: the page's own files (file://) load, anything else is aborted and
recorded, as is every console error. The browser tests of e2e's and perf's pages
assert both lists stay empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass
class Opened:
    page: object  # playwright.sync_api.Page
    path: Path
    outside: list[str] = field(default_factory=list)  # requests that tried to leave the files
    errors: list[str] = field(default_factory=list)  # console errors and page errors

    def section_ids(self) -> list[str]:
        return self.page.eval_on_selector_all("section[id]", "all => all.map(s => s.id)")

    def linked_file(self, href: str) -> Path:
        """The file a relative link of the page points at."""
        url = urlparse(href)
        return (self.path.parent / unquote(url.path)).resolve()


def open_page(page, path: Path) -> Opened:
    opened = Opened(page, path)

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            opened.outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return opened
