"""Every helm command line the harness and the promises build is one both Helm majors
accept: each subcommand exists and lists each flag in its help. Helm hides a deprecated
flag from its help and rejects a removed one, so a flag Helm 4 (or a later Helm 3)
drops is found here, not by a user."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness import artifacts
from harness import release as release_mod
from harness.release import Release
from toolchain import decide
from toolchain.tools import tool

# The helm commands the promises run directly (e2e/test_install.py, test_helm_test.py,
# test_upgrade.py), besides those Release builds.
PROMISE_COMMANDS = [
    ["status", "todo", "-o", "json"],
    ["install", "intruder", "chart", "--dry-run=server", "--set", "a=b"],
    ["test", "todo", "--timeout", "3m"],
    ["uninstall", "todo", "--wait", "--timeout", "3m"],
]
GLOBAL = ("--kubeconfig", "--namespace")


def release_commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argument lists Release hands to helm, captured instead of run."""
    seen: list[list[str]] = []

    class Done:
        stdout = "[]"

    def capture(cmd, **_kwargs):
        seen.append([str(c) for c in cmd[1:]])
        return Done()

    monkeypatch.setattr(release_mod, "run", capture)
    rel = Release("todo", "ns", Path("kubeconfig"), decide.image_set("local"), [Path("v.yaml")])
    rel.install()
    rel.upgrade(sets=["x=1"])
    rel.rollback(1)
    rel.history()
    rel.values()
    return seen


SUBCOMMAND_WORDS = {"get", "values", "upgrade", "install", "rollback", "history", "status",
                    "test", "uninstall", "list"}  # fmt: skip


def subcommand_and_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """(["get", "values"], ["--all", "-o"]) from a helm argument list (global flags dropped)."""
    args = list(argv)
    for flag in GLOBAL:  # `--kubeconfig K` and `--namespace NS`, wherever they are
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
    words = []
    for arg in args:
        if arg not in SUBCOMMAND_WORDS:
            break
        words.append(arg)
    return words, [a.split("=", 1)[0] for a in args if a.startswith("-")]


@pytest.mark.parametrize("name", ["helm", "helm3"])
def test_both_helm_majors_accept_every_flag_the_harness_passes(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    helm = tool(name)
    commands = [*release_commands(monkeypatch), *PROMISE_COMMANDS]
    assert len(commands) >= 9
    for argv in commands:
        words, flags = subcommand_and_flags(argv)
        assert words, argv
        helped = subprocess.run(  # noqa: S603 - the pinned helm
            [str(helm), *words, "--help"], capture_output=True, text=True, check=False
        )
        assert helped.returncode == 0, f"{name} {' '.join(words)}: {helped.stderr}"
        listed = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", helped.stdout))
        for flag in flags:
            assert flag in listed, (
                f"`{name} {' '.join(words)}` no longer lists {flag} (removed or deprecated)"
            )


def test_helm4_accepts_what_the_failure_artifacts_run() -> None:
    """The artifacts always use Helm 4 (it reads Helm 3's releases too); its `list` refuses
    Helm 3's --all (found on a real failure: the release list came out empty)."""
    for argv in (list(artifacts.ARTIFACT_LIST), ["status", "todo"], ["history", "todo"]):
        words, flags = subcommand_and_flags(argv)
        helped = subprocess.run(  # noqa: S603 - the pinned helm
            [str(tool("helm")), *words, "--help"], capture_output=True, text=True, check=False
        )
        listed = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", helped.stdout))
        assert set(flags) <= listed, (argv, sorted(set(flags) - listed))


def test_subcommand_and_flags_are_read_from_a_command_line() -> None:
    argv = ["--kubeconfig", "k", "get", "values", "todo", "--all", "-o", "json", "--namespace", "n"]
    assert subcommand_and_flags(argv) == (["get", "values"], ["--all", "-o"])


def test_the_check_finds_a_flag_helm4_removed() -> None:
    """Helm 4 renamed `--atomic` (to --rollback-on-failure): the check must say so."""
    helped = subprocess.run(  # noqa: S603 - the pinned helm
        [str(tool("helm")), "upgrade", "--help"], capture_output=True, text=True, check=False
    )
    listed = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", helped.stdout))
    assert "--atomic" not in listed
    assert "--wait" in listed and "--install" in listed
