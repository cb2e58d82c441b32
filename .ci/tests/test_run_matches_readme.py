"""`.ci/run` must run exactly the commands the README opens with, in the README's order
(the order `nox -s fresh` proves them in)."""

from __future__ import annotations

from pathlib import Path

from toolchain.fresh import readme_commands

ROOT = Path(__file__).resolve().parents[2]


def ci_commands() -> list[str]:
    """The commands `.ci/run` executes (skipping the shebang, comments, set and cd)."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    skip = ("#", "set ", "cd ")
    return [line.strip() for line in lines if line.strip() and not line.startswith(skip)]


def test_readme_opens_with_the_main_job_and_the_tests() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("nox -s e2e")
    assert commands[1].endswith("nox -s tests")


def test_ci_runs_exactly_the_readme_commands_in_their_order() -> None:
    assert ci_commands() == readme_commands()
