"""`python -m toolchain.fresh` (`nox -s fresh`): the README's two commands on a fresh machine.

What a new machine of this kind is, rebuilt in a container on any machine,
however warm:
- a clean Debian bookworm (debootstrap minbase) with Python 3.11 in a virtual
  environment on PATH, and nothing else from apt: no Docker engine, no
  PostgreSQL, no compiler, no git;
- Go mounted read-only from this machine's GOROOT (the README asks for it
  beforehand);
- this machine's package-registry settings copied in (pip, apt, Go, npm
  configuration, the CA certificates they trust, the environment variables
  that carry them);
- an engine of its own: the container is privileged and its /var/lib/docker
  is an empty folder made for the run, so no image of this machine is
  reused, and nothing it builds lands here;
- empty caches: no Go module or build cache, no ~/.cache/todo-app;
- a fresh clone of this repository's HEAD as users' CI makes it: depth 1, no
  tags (commit first: uncommitted changes are not part of the proof); its
  origin, this repository, is mounted read-only at the same path, so a step
  that needs more history can fetch it.

It runs the README's two commands exactly as written, in the README's order,
with CI=true and no stdin, prints the wall time of every step of each (the
phase tables) and the totals, and fails when either command fails. Afterwards
it removes the container, the clone and the engine's folder; it keeps only
the base image it built (named at the end, with the command that removes it).

`--runner github` runs the e2e workflow's own steps instead, under a hosted
runner's conditions (`toolchain.runner`).
"""

# ruff: noqa: S603, S607 - runs docker/git by name with fixed arguments

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from toolchain import docker, progress
from toolchain.progress import note, step

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "todo-fresh/bookworm-python3.11"
WORKDIR = "/src"
PATH = ":".join(
    ("/opt/python/bin", "/usr/local/go/bin", "/root/go/bin", "/usr/local/sbin", "/usr/local/bin",
     "/usr/sbin", "/usr/bin", "/sbin", "/bin")
)  # fmt: skip
DOCKERFILE = """FROM {debian}
# Python 3.11 from Debian, in a virtual environment on PATH (as pyenv would give it):
# `python3 -m pip install` works and nothing else is installed.
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3.11 python3.11-venv \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && python3.11 -m venv /opt/python && /opt/python/bin/python -m pip --version
ENV PATH={path} LANG=C.UTF-8
"""
# Environment variables that carry registry settings, proxies or trusted CAs.
SETTINGS_ENV = re.compile(
    r"^(PIP_.*|GO(PROXY|SUMDB|NOSUMDB|PRIVATE|NOPROXY|INSECURE|FLAGS)|NPM_CONFIG_.*|"
    r"(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE|"
    r"CURL_CA_BUNDLE|NODE_EXTRA_CA_CERTS|GIT_SSL_CAINFO|PIP_CERT)$"
)
SETTINGS_FILES = (
    "/etc/pip.conf",
    "/etc/xdg/pip/pip.conf",
    "~/.config/pip/pip.conf",
    "~/.pip/pip.conf",
    "~/.npmrc",
    "~/.config/go/env",
    "/etc/apt/sources.list",
    "/etc/apt/sources.list.d",
    "/usr/local/share/ca-certificates",
    "/etc/ssl/certs/ca-certificates.crt",
)


class FreshError(RuntimeError):
    pass


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """The commands of the README's first code block, without their trailing comments."""
    block = re.search(r"```sh\n(.*?)```", readme.read_text(), re.S)
    if not block:
        raise FreshError("README.md must open with a ```sh block holding the two commands")
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def settings_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if SETTINGS_ENV.match(k)}


def settings_files() -> list[tuple[Path, str]]:
    """(host path, path in the container) of every registry setting this machine has."""
    found: list[tuple[Path, str]] = []
    for entry in SETTINGS_FILES:
        host = Path(os.path.expanduser(entry))
        inside = entry.replace("~", "/root", 1) if entry.startswith("~") else entry
        if host.exists():
            found.append((host, inside))
    for conf in sorted(Path("/etc/apt/apt.conf.d").glob("*")):
        if conf.is_file() and "Acquire::" in conf.read_text(errors="replace"):
            found.append((conf, str(conf)))
    find_links = os.environ.get("PIP_FIND_LINKS", "")
    for link in find_links.split():
        if Path(link).is_dir():
            found.append((Path(link), link))
    return found


def ensure_base_image() -> str:
    from airgap.debian import ensure_debian_base

    debian = ensure_debian_base()
    dockerfile = DOCKERFILE.format(debian=debian, path=PATH).encode()
    with step(f"fresh-machine image {IMAGE}"):
        docker.ensure_image([IMAGE], {"Dockerfile": dockerfile}, extra=[docker.image_id(debian)])
    return IMAGE


def _docker(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise FreshError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()[-800:]}")
    return result


def go_root() -> str:
    out = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_command(container: str, command: str, log: Path) -> tuple[int, float]:
    """Run one README command in the container (CI=true, no stdin); stream and log it."""
    started = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            ["docker", "exec", "-w", WORKDIR, "-e", "CI=true", container, "bash", "-c", command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            sys.stderr.write(f"[fresh] {line}")
        code = proc.wait()
    return code, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toolchain.fresh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keep", action="store_true", help="keep the container for a look")
    parser.add_argument("--runner", choices=("github",),
                        help="run the e2e workflow's own steps under a hosted runner's "
                        "conditions instead of the README's commands")  # fmt: skip
    parser.add_argument("--leg", metavar="MINOR",
                        help="with --runner: the matrix leg's Kubernetes minor (default: the "
                        "one built offline here), kind values, one node")  # fmt: skip
    args = parser.parse_args(argv)
    progress.set_label("fresh")
    if args.runner:
        from toolchain import runner

        return runner.run(args.leg, runner.out_folder(), keep=args.keep)
    run = f"todo-fresh-{secrets.token_hex(3)}"
    commands = readme_commands()
    out_dir = ROOT / "reports" / "fresh"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix=f"{run}-", dir=os.environ.get("TODO_FRESH_DIR")))
    results: list[tuple[str, int, float]] = []
    try:
        docker.ensure_docker()
        image = ensure_base_image()
        with step("fresh clone of HEAD"):
            subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--no-tags",
                            ROOT.as_uri(), str(work / "src")], check=True)  # fmt: skip
            head = subprocess.run(
                ["git", "-C", str(work / "src"), "log", "-1", "--format=%h %s"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            note(f"clone at {head.stdout.strip()}")
        (work / "docker").mkdir()
        env_args = [a for k, v in settings_env().items() for a in ("-e", f"{k}={v}")]
        _docker("run", "-d", "--name", run, "--privileged",
                "--sysctl", "net.ipv6.conf.all.disable_ipv6=0",
                "-v", f"{work / 'docker'}:/var/lib/docker",
                "-v", f"{go_root()}:/usr/local/go:ro", "-v", f"{ROOT}:{ROOT}:ro",
                *env_args, image, "sleep", "infinity")  # fmt: skip
        with step("registry settings and the clone into the container"):
            for host_path, inside in settings_files():
                _docker("exec", run, "mkdir", "-p", str(Path(inside).parent))
                _docker("cp", f"{host_path}{'/.' if host_path.is_dir() else ''}", f"{run}:{inside}")
                note(f"copied {host_path} -> {inside}")
            _docker("cp", f"{work / 'src'}/.", f"{run}:{WORKDIR}")
        for command in commands:
            log = out_dir / (re.sub(r"\W+", "-", command.split("&&")[-1]).strip("-") + ".log")
            note(f"$ {command}   (cold, in {run}; log {log})")
            code, seconds = run_command(run, command, log)
            results.append((command, code, seconds))
            note(f"{command}: exit {code} after {progress.format_seconds(seconds)}")
            if code != 0:
                break
        subprocess.run(["docker", "cp", f"{run}:{WORKDIR}/reports/.", str(out_dir)],
                       capture_output=True, check=False)  # fmt: skip
    except (
        FreshError,
        docker.EngineError,
        docker.ImageError,
        subprocess.CalledProcessError,
    ) as exc:
        print(f"fresh: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            subprocess.run(["docker", "rm", "-f", "-v", run], capture_output=True, check=False)
            shutil.rmtree(work, ignore_errors=True)
        _summary(results, out_dir, run if args.keep else None)
    return 0 if len(results) == len(commands) and all(code == 0 for _, code, _ in results) else 1


def _summary(results: list[tuple[str, int, float]], out_dir: Path, kept: str | None) -> None:
    lines = ["", "== fresh machine: the README's commands, cold =="]
    for phases in sorted(out_dir.glob("*-phases.jsonl")):
        lines += [
            f"-- phases of {phases.name}:",
            progress.phase_table(progress.read_phases(phases)),
        ]
    for command, code, seconds in results:
        lines.append(f"{progress.format_seconds(seconds):>9}  exit {code}  {command}")
    if results:
        lines.append(f"{progress.format_seconds(sum(s for _, _, s in results)):>9}  total")
    size = docker.image_size(IMAGE) / 1e6 if docker.image_exists(IMAGE) else 0
    lines += [
        f"left behind: the image {IMAGE} ({size:.0f} MB) and the Debian base it is built on, "
        f"reused by the next run; remove them with `docker rmi {IMAGE}`",
        f"logs and the run's reports: {out_dir}",
    ]
    if kept:
        lines.append(f"kept (--keep): container {kept}; remove it with `docker rm -f -v {kept}`")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
