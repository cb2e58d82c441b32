"""The browser the run's browser tests drive, decided once per run like the image source.

- `system`: Debian's Chromium (package `chromium`), driven by Playwright through
  `executable_path`. Playwright downloads its own browser builds from its CDN,
  which an offline machine cannot reach, so offline this is the only choice.
  `/usr/lib/chromium/chromium` is the binary itself: Debian's `/usr/bin/chromium`
  is a wrapper script that reads flags from /etc and trips on some /dev/shm
  layouts.
- `playwright`: the Chromium build Playwright is released with, installed by
  `python -m playwright install chromium` (a download, so only with internet).

`TODO_BROWSER=system|playwright` overrides; otherwise the image source decides:
local images (no registry, so no internet) mean `system`, upstream images
`playwright`. Standard library only: the noxfile decides before any virtualenv.
"""

from __future__ import annotations

from pathlib import Path

ENV_BROWSER = "TODO_BROWSER"
BROWSERS = ("system", "playwright")
SYSTEM_CHROMIUM = Path("/usr/lib/chromium/chromium")
# Chromium otherwise opens connections of its own at start (component updates, safe
# browsing lists, field trials); offline each one is refused, and the pages under test
# need none of them.
QUIET_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
)


class BrowserError(ValueError):
    """An override names no known browser; the message lists the choices."""


def decide(environ: dict[str, str], source: str) -> tuple[str, str]:
    """(browser, why) for a run whose images come from `source` ("upstream" | "local")."""
    override = environ.get(ENV_BROWSER, "").strip().lower()
    if override:
        if override not in BROWSERS:
            raise BrowserError(
                f"{ENV_BROWSER}={environ[ENV_BROWSER]!r} is not valid: use 'system' (Debian's "
                "chromium package) or 'playwright' (Playwright's own build, downloaded)"
            )
        return override, f"{ENV_BROWSER}={override}"
    if source == "local":
        return "system", "no registry, so no download: Debian's Chromium through Playwright"
    return "playwright", "internet: Playwright's own Chromium build"


def launch_args(browser: str) -> dict:
    """Keyword arguments for Playwright's `chromium.launch()` for this browser."""
    if browser not in BROWSERS:
        raise BrowserError(f"unknown browser {browser!r}; use one of {BROWSERS}")
    args: dict = {"args": list(QUIET_FLAGS)}
    if browser == "system":
        args["executable_path"] = str(SYSTEM_CHROMIUM)
    return args


def missing(browser: str) -> str | None:
    """Why this browser cannot start on this machine, with the fix; None when it can."""
    if browser == "system" and not SYSTEM_CHROMIUM.exists():
        return (
            f"{SYSTEM_CHROMIUM} is missing: install Debian's chromium package "
            "(`apt-get install -y chromium`), or set TODO_BROWSER=playwright with internet"
        )
    return None
