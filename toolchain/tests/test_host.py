"""The host requirements cover what the builds need, read from the builds themselves.

Two readings of the code, not a second list:
- every cgo build's C libraries, from `go list` of its packages (`#cgo pkg-config`),
  must be provided by a declared package;
- every command the project's own code runs on the host (the first word of each
  literal argv handed to subprocess, `run()` or `shutil.which`) must be declared,
  unless the project builds it, the README requires it beforehand, or some nox
  session installs it from PyPI (`nox -s profile` installs py-spy, for example).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from airgap.images import go_builds as image_builds
from airgap.node import components
from toolchain import go, host, tools

ROOT = Path(__file__).resolve().parents[2]
HOST_CODE = ("toolchain", "airgap", "harness", "perf", "services/tests", "services/bench")
# Built by the project (toolchain.tools) or required before anything runs (the README).
NOT_FROM_PACKAGES = {*tools.NAMES, "go", "python", "python3", "sh", "bash", "env"}
PACKAGE_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")
CALLS = {"run", "Popen", "check_output", "check_call", "which"}


def every_go_build() -> list[go.GoBuild]:
    """Every GoBuild of the project (etcd and CoreDNS at the tags kubeadm 1.37 lists)."""
    builds = [*tools.BUILDS.values(), *image_builds(), components.kubernetes_build()]
    builds += [spec for spec, _ in components.runtime_builds(components.kind().base_pins)]
    builds += [*components.etcd_builds("3.7.0-0"), components.coredns_build("v1.14.6")]
    return builds


def installed_by_nox() -> set[str]:
    """Plain package names handed to `session.install(...)` in the noxfile."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / "noxfile.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "install":
            names |= {
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and PACKAGE_NAME.fullmatch(str(arg.value))
            }
    return names


def declared_pkg_config() -> set[str]:
    return {m for r in host.REQUIREMENTS for m in r.pkg_config}


def declared_commands() -> set[str]:
    return {c for r in host.REQUIREMENTS for c in (*r.commands, *r.provides)}


def commands_in(path: Path) -> set[str]:
    """First words of literal argv lists (and `shutil.which("x")`) in a Python file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        if name not in CALLS:
            continue
        first = node.args[0]
        if isinstance(first, ast.List) and first.elts:
            first = first.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
            word = first.value.split()[0]
            if "/" not in word and not word.startswith("-"):
                found.add(word)
    return found


def test_every_cgo_build_links_only_declared_libraries() -> None:
    cgo = [spec for spec in every_go_build() if spec.cgo]
    assert cgo, "runc is built with cgo: the reading below must see at least that build"
    needed = {spec.name: go.cgo_pkg_config(spec) for spec in cgo}
    assert needed["runc"] >= {"libseccomp"}, needed
    missing = {name: sorted(libs - declared_pkg_config()) for name, libs in needed.items()}
    assert not any(missing.values()), (
        f"cgo builds link libraries no host requirement provides: {missing}; "
        "declare the Debian -dev package in toolchain/host.py"
    )


def test_cgo_builds_need_the_c_toolchain_declared_for_the_same_purpose() -> None:
    offline = {c for r in host.required(["offline"]) for c in r.commands}
    assert {"gcc", "pkg-config"} <= offline


def test_every_command_the_code_runs_is_declared() -> None:
    used: dict[str, set[str]] = {}
    for folder in HOST_CODE:
        for path in (ROOT / folder).rglob("*.py"):
            for command in commands_in(path):
                used.setdefault(command, set()).add(str(path.relative_to(ROOT)))
    assert {"docker", "debootstrap", "gcc", "tar"} <= set(used), sorted(used)
    undeclared = {
        command: sorted(where)
        for command, where in used.items()
        if command
        not in declared_commands() | NOT_FROM_PACKAGES | installed_by_nox() | {"apt-get", "dpkg"}
    }
    assert not undeclared, (
        f"commands run on the host that no requirement declares: {undeclared}; "
        "add them to toolchain/host.py with the Debian package that provides them"
    )


def test_purposes_are_known_and_every_requirement_says_what_needs_it() -> None:
    for req in host.REQUIREMENTS:
        assert req.purposes and req.purposes <= set(host.PURPOSES), req.name
        assert req.needed_by and (req.package or req.how), req.name
    with pytest.raises(host.HostError, match="unknown purposes"):
        host.required(["everything"])


def test_a_mistyped_purpose_is_one_line_not_a_traceback(capsys) -> None:
    from toolchain.__main__ import main

    assert main(["host", "--no-install", "--for", "browsr"]) == 1
    err = capsys.readouterr().err
    assert "unknown purposes ['browsr']" in err and "Traceback" not in err


def test_missing_pieces_are_listed_in_one_message_with_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(host.Requirement, "present", lambda self: self.package == "git")
    monkeypatch.setattr(host, "_docker_satisfied", lambda: False)
    with pytest.raises(host.HostError) as refused:
        host.check(["offline"], install=False)
    message = str(refused.value)
    assert "debootstrap" in message and "libseccomp" in message
    assert "apt-get install -y --no-install-recommends" in message
    assert "libseccomp-dev" in message.splitlines()[-1]


def test_installing_is_one_apt_call_for_everything_missing(monkeypatch) -> None:
    installed: list[list[str]] = []
    present = {"git"}
    monkeypatch.setattr(host.Requirement, "present", lambda self: self.package in present)
    monkeypatch.setattr(host, "_docker_satisfied", lambda: False)

    def apt(packages: list[str]) -> None:
        installed.append(packages)
        present.update(packages)

    monkeypatch.setattr(host, "apt_install", apt)
    report = host.check(["offline"], install=True)
    assert len(installed) == 1
    assert {"debootstrap", "libseccomp-dev", "gcc"} <= set(installed[0])
    assert {f.status for f in report.findings if f.name == "libseccomp"} == {"installed"}


def test_python_is_found_under_sudo_whose_path_lacks_the_users_interpreter(
    monkeypatch, tmp_path
) -> None:
    """`sudo "$(command -v python)" -m toolchain host`: sudo's secure_path holds no
    python3.11 (a runner's setup-python interpreter lives in its tool cache), but the
    interpreter running the check is the one nox will use."""
    monkeypatch.setenv("PATH", str(tmp_path))  # like secure_path: no python3.11 on it
    monkeypatch.setattr(host.versions, "PYTHON_VERSION", ".".join(map(str, sys.version_info[:2])))
    found = {f.name: f.status for f in host._version_findings()}
    assert found[f"Python {host.versions.PYTHON_VERSION}"] == "present"
    monkeypatch.setattr(host.versions, "PYTHON_VERSION", "3.99")
    found = {f.name: f.status for f in host._version_findings()}
    assert found["Python 3.99"] == "missing"
