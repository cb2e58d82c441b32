"""Every session `nox -l` lists starts with its defaults, from a clean checkout.

Each session runs here with no posargs against a stand-in for nox's Session that
records the commands instead of running them. Every project command it would
run (`python -m <package>`, `python <script>.py`) is then started for real in a
subprocess in which argparse stops the program right after parsing (and no
child process can start), so a default the program's own parser refuses
(`python -m airgap` once failed with "invalid choice: ['all']") fails here.
"""

# ruff: noqa: S603 - starts this repository's own entry points with recorded arguments

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nox
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Runs the recorded command with argparse stopping the program once its arguments parsed.
BOOTSTRAP = """
import argparse, os, runpy, subprocess, sys

real_known = argparse.ArgumentParser.parse_known_args

def parsed():
    print("PARSED", flush=True)
    os._exit(0)

def parse_args(self, args=None, namespace=None):
    namespace, extra = real_known(self, args, namespace)
    if extra:
        self.error("unrecognized arguments: " + " ".join(extra))
    parsed()

def parse_known_args(self, args=None, namespace=None):
    real_known(self, args, namespace)
    parsed()

def refuse(*args, **kwargs):
    raise RuntimeError("started a process before parsing its arguments")

argparse.ArgumentParser.parse_args = parse_args
argparse.ArgumentParser.parse_known_args = parse_known_args
subprocess.Popen.__init__ = refuse
target, sys.argv = sys.argv[1], sys.argv[1:]
if target.endswith(".py"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(target)))  # as `python script.py` does
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
print("NOT PARSED: the program ended without parsing its arguments with argparse")
"""
# Commands that are not this project's programs (their arguments are theirs to check).
FOREIGN = {"pytest", "ruff", "playwright"}


class Refused(Exception):
    """What nox's `session.error()` does: the session ends with this message alone."""


class RecordingSession:
    """Enough of nox.Session for the noxfile's sessions to run without running anything."""

    def __init__(self, name: str, posargs: list[str] | None = None) -> None:
        self.name = name
        self.posargs: list[str] = list(posargs or [])
        self.commands: list[tuple[list[str], dict[str, str]]] = []

    def run(self, *args: str, env: dict[str, str] | None = None, **_: object) -> None:
        self.commands.append(([str(a) for a in args], dict(env or {})))

    def install(self, *args: str, **_: object) -> None:
        pass

    def log(self, *args: object, **_: object) -> None:
        pass

    def error(self, *args: object) -> None:
        raise Refused(" ".join(str(a) for a in args))


def _record(
    posargs: list[str] | None = None, only: str | None = None
) -> dict[str, list[tuple[list[str], dict[str, str]]]]:
    """{session: [(command, env)]} for every session of the noxfile (or `only` that one),
    run with `posargs` (none by default), the run's decisions given up front so no session
    probes a registry or the kernel."""
    from toolchain import decide

    saved = dict(os.environ)
    os.environ.pop(decide.ENV_CHOICE, None)  # decided afresh, not handed down by a session
    os.environ.update({"TODO_IMAGE_SOURCE": "local", "TODO_NETPOL_ENFORCER": "kube-router",
                       "TODO_BROWSER": "system"})  # fmt: skip
    try:
        spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.REPORTS = Path(tempfile.mkdtemp(prefix="todo-sessions-"))  # phase files go here
        out = {}
        for name, func in nox.registry.get().items():
            if func.__module__ == module.__name__ and only in (None, name):
                session = RecordingSession(name, posargs)
                func(session)
                out[name] = session.commands
        return out
    finally:
        decide._current = None
        os.environ.clear()
        os.environ.update(saved)


def _project_commands(recorded) -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, [module or script, args...], env) of every program of ours a session runs."""
    found = []
    for name, commands in recorded.items():
        for args, env in commands:
            if args[0] != "python" or len(args) < 2:
                continue
            target = args[2] if args[1] == "-m" else args[1]
            rest = args[3:] if args[1] == "-m" else args[2:]
            if target.split(".")[0] not in FOREIGN:
                found.append((f"{name}: {' '.join(args)}", [target, *rest], env))
    return found


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[tuple[list[str], dict[str, str]]]]:
    return _record()


def test_every_session_nox_lists_is_recorded(recorded) -> None:
    listed = subprocess.run([sys.executable, "-m", "nox", "-l"], capture_output=True,
                            text=True, cwd=ROOT, check=True).stdout  # fmt: skip
    sessions = set(re.findall(r"^[*-] ([\w-]+)", listed, re.MULTILINE))
    assert {"tests", "e2e", "perf", "airgap", "fresh", "report", "bench"} <= sessions
    assert sessions <= set(recorded), sessions - set(recorded)
    assert len(_project_commands(recorded)) >= 10


def test_each_program_a_session_starts_accepts_its_default_arguments(recorded) -> None:
    refused = []
    for label, argv, env in _project_commands(recorded):
        started = subprocess.run([sys.executable, "-c", BOOTSTRAP, *argv], capture_output=True,
                                 text=True, cwd=ROOT, timeout=60,
                                 env={**os.environ, **env})  # fmt: skip
        if "PARSED" not in started.stdout or "NOT PARSED" in started.stdout:
            refused.append(f"{label}\n{started.stdout[-800:]}\n{started.stderr[-800:]}")
    assert not refused, "\n\n".join(refused)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["services/bench/image_metrics.py", "--image", "todo-app:not-built"],
         r"(is not built here|no Docker engine answers).*nox -s image"),
        (["-m", "report", "/nonexistent/run"], r"no such folder"),
    ],
)  # fmt: skip
def test_a_program_missing_what_it_needs_first_says_what_in_one_line(argv, says) -> None:
    got = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, check=False)  # fmt: skip
    said = (got.stderr + got.stdout).strip()
    assert got.returncode != 0
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    assert re.search(says, said), said


def test_the_options_given_to_a_cluster_session_reach_its_images_step() -> None:
    """The images step decides how the images reach the cluster: it must see the run's
    options (`nox -s e2e -- --registry REG` once reached pytest only, and the images step
    refused the cluster for want of a registry)."""
    recorded = _record(["--registry", "registry.example:5000", "--push-all"])
    images = [env for args, env in recorded["e2e"] if args[1:4] == ["-m", "harness", "images"]]
    assert images and images[0]["E2E_REGISTRY"] == "registry.example:5000"
    assert images[0]["E2E_PUSH_ALL"] == "1"


@pytest.mark.parametrize(
    ("session", "posargs", "says"),
    [("e2e", ["--repeat", "two"], r"^--repeat takes a whole number of runs"),
     ("perf", ["--repeat=0"], r"^--repeat takes a whole number of runs"),
     ("e2e", ["--nodes", "two"], r"^--nodes must be a whole number, not 'two'$"),
     ("perf", ["--workers", "many"], r"^--workers / PERF_WORKERS must be a whole number"),
     ("perf", ["--workers", "2", "--local-registry"], r"^--workers 2 runs Locust in the "),
     ("cluster", ["--k8s-version", "1.2"], r"^no node image pinned for Kubernetes 1.2; ")],
)  # fmt: skip
def test_a_refused_option_or_decision_ends_the_session_with_its_reason_alone(
    session: str, posargs: list[str], says: str
) -> None:
    with pytest.raises(Refused, match=says):
        _record(posargs, only=session)
