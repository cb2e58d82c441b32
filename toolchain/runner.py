"""`nox -s fresh -- --runner github`: the e2e workflow's own steps under a hosted runner's
conditions, in a clean container.

The steps come from `.github/workflows/e2e.yml` itself, in their order: first the
`matrix` job's (its output picks the leg), then the `e2e` job's for one leg
(`--leg MINOR`; default: the minor this machine builds offline, with the kind
values on one node). Each `run:` step runs as written, with GitHub's shell
(`bash --noprofile --norc -eo pipefail`), the job's `env` with its expressions
filled in, `CI=true` and GitHub's files (`GITHUB_OUTPUT`, `GITHUB_ENV`,
`GITHUB_PATH`, `GITHUB_STEP_SUMMARY`), as the non-root user `runner`.

The container is the fresh machine's Debian bookworm made to look like an
ubuntu-24.04 hosted runner:
- the user `runner` in the group `docker`, passwordless `sudo` with a
  `secure_path` like Ubuntu's;
- Python 3.11 only in setup-python's tool cache
  (`/opt/hostedtoolcache/Python/3.11/x64`), on runner's PATH alone: as on the
  runner, whose own Python is 3.12, `sudo` finds no `python3.11`;
- an older Go of the image's own in /usr/bin, on sudo's secure_path, as the
  runner image links its default Go there: a root step that does not keep the
  job's PATH finds that one instead of setup-go's;
- the Docker engine installed and already running before the first step;
  git and a browser preinstalled (the runner image has Chrome; here Debian's
  Chromium, so the run drives it: `TODO_BROWSER=system`).

`uses:` steps are stood in for by what each does: `actions/checkout` clones
HEAD of this repository (`fetch-depth`: 1 with no tags unless the step asks
more), `actions/setup-python` checks the tool cache's version,
`actions/setup-go` puts this machine's Go on PATH and gives its version as
the step's output, `actions/cache` restores and saves under the key the step
computes (host folder `<cache>/runner-cache`), `actions/upload-artifact`
copies the paths to `reports/runner/artifacts/<name>/`. An action, an input or an
expression the stand-ins do not know stops the session: the workflow changed
and the stand-in must follow it.

Images come the upstream way, through the stand-in mirror: the local registry
filled with this machine's builds under upstream names (`python -m harness
fill-mirror`), reached from the container on Docker's default bridge. The
job's env gets `TODO_IMAGE_MIRROR`, `TODO_STAND_IN_MIRROR=1` and
`TODO_BROWSER=system`, and the container's engine is told that the mirror
speaks plain HTTP, as a runner's engine is set up for its mirror. This
machine's network answers for any address (a transparent proxy), a runner's
does not: the runner's kind network is kept from reaching beyond the
container, as `harness.kind` does for a run that may set the firewall.
"""

# ruff: noqa: S603, S607 - runs docker with fixed arguments

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import cache, docker, progress, versions
from toolchain.progress import note, step

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yml"
IMAGE = "todo-fresh/runner-ubuntu-24.04"
ORIGIN = "/mnt/origin"  # this repository, read-only: what actions/checkout clones
HOME = "/home/runner"
WORKSPACE = f"{HOME}/work/todo-app/todo-app"
TOOL_CACHE = "/opt/hostedtoolcache/Python/3.11"
RUNNER_PATH = ":".join(
    (f"{TOOL_CACHE}/x64/bin", f"{HOME}/.local/bin", "/usr/local/sbin", "/usr/local/bin",
     "/usr/sbin", "/usr/bin", "/sbin", "/bin")
)  # fmt: skip
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"  # Ubuntu's
DOCKERFILE = """FROM {debian}
# The software a hosted runner image brings: git, the Docker engine, a browser, sudo, and
# an older Go of its own in /usr/bin (Debian's, 1.19), older than the one setup-go gives.
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3.11 python3.11-venv sudo git ca-certificates docker.io iptables chromium libatomic1 \\
      golang-go \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# setup-python's interpreter lives in its tool cache, out of sudo's secure_path.
RUN mkdir -p {tool_cache}/base/bin \\
 && mv /usr/bin/python3.11 {tool_cache}/base/bin/python3.11 \\
 && {tool_cache}/base/bin/python3.11 -m venv {tool_cache}/x64 \\
 && useradd --create-home --shell /bin/bash --groups docker runner \\
 && echo 'runner ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/runner \\
 && echo 'Defaults secure_path="{secure_path}"' > /etc/sudoers.d/secure-path \\
 && chown -R runner:runner /opt/hostedtoolcache \\
 # actions/checkout marks its workspace safe; the clone's origin here belongs to root.
 && git config --system --add safe.directory '*'
ENV LANG=C.UTF-8
"""
KNOWN_INPUTS = {
    "actions/checkout": {"persist-credentials", "fetch-depth"},
    "actions/setup-python": {"python-version"},
    "actions/setup-go": {"go-version", "cache"},
    "actions/cache": {"path", "key", "restore-keys"},
    "actions/upload-artifact": {"name", "path", "if-no-files-found", "retention-days"},
}


class RunnerError(RuntimeError):
    """The workflow and the stand-ins disagree, or a step failed; the message says which."""


@dataclass
class Job:
    """What one job's steps share: its environment, files, step outputs, post steps."""

    name: str
    container: str
    env: dict[str, str]
    matrix: dict[str, object] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    post: list = field(default_factory=list)
    results: list[tuple[str, int, float]] = field(default_factory=list)


# --- expressions -------------------------------------------------------------------------


def hash_files(patterns: list[str], root: Path) -> str:
    """A digest of the named files' contents (actions' hashFiles, for a key's purpose)."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def evaluate(text: str, job: Job, workspace: Path) -> str:
    """Fill in every `${{ ... }}` of `text` that the stand-ins know; refuse any other.
    `hashFiles` reads `workspace` (this repository: the checkout is a clone of its HEAD)."""

    def value(match: re.Match) -> str:
        expr = match.group(1).strip()
        if expr == "github.job":
            return job.name
        if expr == "runner.os":
            return "Linux"
        if expr.startswith("matrix."):
            return str(job.matrix[expr.split(".", 1)[1]])
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if found:
            return job.outputs.get(found.group(1), {}).get(found.group(2), "")
        found = re.fullmatch(r"hashFiles\((.*)\)", expr)
        if found:
            return hash_files(re.findall(r"'([^']+)'", found.group(1)), workspace)
        raise RunnerError(f"the stand-in runner does not know the expression ${{{{ {expr} }}}}")

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


# --- the container -------------------------------------------------------------------------


def ensure_image() -> str:
    from airgap.debian import ensure_debian_base

    debian = ensure_debian_base()
    dockerfile = DOCKERFILE.format(
        debian=debian, tool_cache=TOOL_CACHE, secure_path=SECURE_PATH
    ).encode()
    with step(f"runner image {IMAGE}"):
        docker.ensure_image([IMAGE], {"Dockerfile": dockerfile}, extra=[docker.image_id(debian)])
    return IMAGE


def _docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RunnerError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()[-800:]}")
    return result


def stand_in_mirror() -> str:
    """The local registry, joined to Docker's default bridge: its address from a container."""
    from harness.registry import PORT_INSIDE, ensure_local_registry

    local = ensure_local_registry()
    networks = json.loads(_docker("inspect", local.name).stdout)[0]["NetworkSettings"]["Networks"]
    if "bridge" not in networks:
        _docker("network", "connect", "bridge", local.name)
        networks = json.loads(_docker("inspect", local.name).stdout)[0]["NetworkSettings"][
            "Networks"
        ]
    return f"{networks['bridge']['IPAddress']}:{PORT_INSIDE}"


def start_container(name: str, image: str, mirror: str, work: Path) -> None:
    """The runner: privileged (kind's nodes), its engine's storage in a folder of the run,
    this repository at ORIGIN read-only, the engine started before any step."""
    from toolchain.fresh import go_root, settings_env, settings_files

    (work / "docker").mkdir()
    env_args = [a for k, v in settings_env().items() for a in ("-e", f"{k}={v}")]
    _docker("run", "-d", "--name", name, "--privileged",
            "--sysctl", "net.ipv6.conf.all.disable_ipv6=0",
            "-v", f"{work / 'docker'}:/var/lib/docker", "-v", f"{go_root()}:/usr/local/go:ro",
            "-v", f"{ROOT}:{ORIGIN}:ro", *env_args, image, "sleep", "infinity")  # fmt: skip
    for host_path, inside in settings_files():
        _docker("exec", name, "mkdir", "-p", str(Path(inside).parent))
        _docker("cp", f"{host_path}{'/.' if host_path.is_dir() else ''}", f"{name}:{inside}")
    daemon = json.dumps({"insecure-registries": [mirror]})
    _docker("exec", name, "sh", "-c", f"mkdir -p /etc/docker && echo '{daemon}' > "
                                      "/etc/docker/daemon.json")  # fmt: skip
    with step("the runner's Docker engine, started before the first step"):
        started = _docker("exec", "-e", f"PYTHONPATH={ORIGIN}", name,
                          f"{TOOL_CACHE}/x64/bin/python", "-m", "toolchain", "docker",
                          check=False)  # fmt: skip
        if started.returncode != 0:
            raise RunnerError(f"the runner's engine did not start: {started.stderr[-800:]}")
    # This machine answers for any address a packet leaves it for (a transparent proxy); a
    # hosted runner's network does not. The runner's kind network is kept off it, as
    # harness.kind keeps it for a run that may set the firewall, so a connection to a
    # Service kube-proxy has not programmed is refused there as on the runner.
    guarded = _docker("exec", "-e", f"PYTHONPATH={ORIGIN}", name, f"{TOOL_CACHE}/x64/bin/python",
                      "-c", "from harness.kind import guard_kind_network; guard_kind_network()",
                      check=False)  # fmt: skip
    if guarded.returncode != 0:
        raise RunnerError(f"could not keep the runner's kind network local: {guarded.stderr}")


# --- steps -------------------------------------------------------------------------------


def _action(uses: str) -> str:
    return uses.split("@", 1)[0]


def _exec(job: Job, script: str, env: dict[str, str], log: Path, cwd: str = WORKSPACE) -> int:
    """One `run:` script as the runner user, its output streamed and logged."""
    args = ["docker", "exec", "-u", "runner", "-w", cwd]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*args, job.container, *SHELL, script], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            sys.stderr.write(f"[runner] {line}")
        return proc.wait()


def _step_env(job: Job, step_env: dict[str, str]) -> dict[str, str]:
    files = {key: f"{HOME}/_temp/{key.lower()}" for key in
             ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}  # fmt: skip
    path = ":".join([*reversed(job.path), RUNNER_PATH])
    return {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_JOB": job.name, "RUNNER_OS": "Linux",
            "RUNNER_TEMP": f"{HOME}/_temp", "HOME": HOME, "PATH": path,
            "GITHUB_WORKSPACE": WORKSPACE, **files, **job.env, **step_env}  # fmt: skip


def _read_files(job: Job, step_id: str | None) -> None:
    """What the step wrote to GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH; the files emptied."""
    for key in ("github_output", "github_env", "github_path"):
        file = f"{HOME}/_temp/{key}"
        script = f"cat {file} 2>/dev/null; : > {file}"
        text = _docker("exec", job.container, "sh", "-c", script).stdout
        pairs = [line.split("=", 1) for line in text.splitlines() if "=" in line]
        if key == "github_output" and step_id:
            job.outputs.setdefault(step_id, {}).update(dict(pairs))
        elif key == "github_env":
            job.env.update(dict(pairs))
        elif key == "github_path":
            job.path += [line for line in text.splitlines() if line.strip()]


def _stand_in(job: Job, action: str, inputs: dict[str, str], step_id: str | None,
              out_dir: Path) -> int:  # fmt: skip
    """What a `uses:` step does, done here; its exit code."""
    unknown = set(inputs) - KNOWN_INPUTS.get(action, set())
    if action not in KNOWN_INPUTS or unknown:
        raise RunnerError(
            f"no stand-in for {action} with inputs {sorted(unknown) or sorted(inputs)}: the "
            "workflow changed; teach toolchain/runner.py what the step does"
        )

    def sh(script: str) -> subprocess.CompletedProcess[str]:
        return _docker("exec", "-u", "runner", job.container, *SHELL, script, check=False)

    if action == "actions/checkout":
        depth = int(inputs.get("fetch-depth", "1"))
        shallow = f"--depth {depth} --no-tags" if depth > 0 else ""
        got = sh(
            f"mkdir -p {HOME}/_temp && rm -rf {WORKSPACE} && git clone -q {shallow} "
            f"file://{ORIGIN} {WORKSPACE} && git -C {WORKSPACE} log -1 --format='%h %s'"
        )
        how = f"depth {depth}" if depth else "whole history"
        note(f"checkout ({how}): {got.stdout.strip() or got.stderr.strip()[-400:]}")
        return got.returncode
    if action == "actions/setup-python":
        got = sh(f"{TOOL_CACHE}/x64/bin/python --version")
        wanted = inputs.get("python-version", "")
        note(f"setup-python: {got.stdout.strip()} from the tool cache (asked {wanted})")
        return 0 if got.stdout.split()[-1].startswith(wanted) else 1
    if action == "actions/setup-go":
        got = sh("/usr/local/go/bin/go env GOVERSION")
        job.path.append("/usr/local/go/bin")
        job.path.append(f"{HOME}/go/bin")
        job.outputs.setdefault(step_id or "setup-go", {})["go-version"] = got.stdout.strip()[2:]
        note(f"setup-go: {got.stdout.strip()} (this machine's Go)")
        return got.returncode
    if action == "actions/cache":
        return _cache(job, inputs)
    name = inputs["name"]
    target = out_dir / "artifacts" / name
    target.mkdir(parents=True, exist_ok=True)
    for path in inputs["path"].split():
        _docker("cp", f"{job.container}:{WORKSPACE}/{path}", str(target), check=False)
    note(f"upload-artifact {name}: {target}")
    return 0


def _cache(job: Job, inputs: dict[str, str]) -> int:
    """actions/cache: restore the newest entry matching the key (or a restore key), and save
    the job's paths under the key after the job when it was not an exact hit."""
    store = cache.sub_dir("runner-cache")
    key = inputs["key"]
    paths = [p.replace("~", HOME, 1) for p in inputs["path"].split()]
    prefixes = [key, *[k for k in inputs.get("restore-keys", "").split() if k]]
    hit = next((entry for prefix in prefixes for entry in sorted(store.glob("*.tar"),
                key=lambda e: e.stat().st_mtime, reverse=True)
                if entry.stem.startswith(prefix)), None)  # fmt: skip
    if hit is not None:
        with hit.open("rb") as fh:
            subprocess.run(["docker", "exec", "-i", "-u", "runner", job.container, "tar", "-x",
                            "-C", "/"], stdin=fh, check=True)  # fmt: skip
    note(f"cache {'restored from ' + hit.stem if hit else 'miss'} for key {key}")

    def save() -> None:
        if hit is not None and hit.stem == key:
            return
        listed = " ".join(shlex.quote(p.lstrip("/")) for p in paths)
        with (store / f"{key}.tar").open("wb") as fh:
            subprocess.run(["docker", "exec", "-u", "runner", job.container, "sh", "-c",
                            f"cd / && tar -c --ignore-failed-read {listed} 2>/dev/null || true"],
                           stdout=fh, check=False)  # fmt: skip
        note(f"cache saved under {key}")

    job.post.append(save)
    return 0


def run_job(job: Job, steps: list[dict], out_dir: Path) -> bool:
    """The job's steps in order; after a failure only `if: always()` steps run."""
    failed = False
    for number, spec in enumerate(steps, 1):
        label = spec.get("name") or spec.get("id") or spec.get("uses") or spec["run"].split("\n")[0]
        condition = spec.get("if")
        if condition not in (None, "always()"):
            raise RunnerError(f"{job.name} step {label!r}: no stand-in for `if: {condition}`")
        if failed and condition != "always()":
            note(f"{job.name} / {label}: skipped (an earlier step failed)")
            continue
        if spec.get("shell") not in (None, "bash"):
            raise RunnerError(f"{job.name} step {label!r}: no stand-in for shell {spec['shell']}")
        started = time.monotonic()
        with step(f"{job.name} / {label}"):
            inputs = {k: evaluate(str(v), job, ROOT) for k, v in (spec.get("with") or {}).items()}
            if "uses" in spec:
                code = _stand_in(job, _action(spec["uses"]), inputs, spec.get("id"), out_dir)
            else:
                step_env = {
                    k: evaluate(str(v), job, ROOT) for k, v in (spec.get("env") or {}).items()
                }
                log = out_dir / f"{job.name}-{number:02d}.log"
                code = _exec(job, spec["run"], _step_env(job, step_env), log)
                _read_files(job, spec.get("id"))
        seconds = time.monotonic() - started
        job.results.append((f"{job.name} / {label}", code, seconds))
        note(f"{job.name} / {label}: exit {code} after {progress.format_seconds(seconds)}")
        failed = failed or code != 0
    for save in job.post:
        save()
    return not failed


def pick_leg(matrix: dict, minor: str) -> dict:
    legs = [leg for leg in matrix["include"] if leg["kubernetes"] == minor
            and leg.get("values") == "kind" and int(leg.get("nodes", 1)) == 1]  # fmt: skip
    if not legs:
        raise RunnerError(f"the workflow's matrix has no Kubernetes {minor} leg with the kind "
                          f"values on one node: {json.dumps(matrix)[:400]}")  # fmt: skip
    return legs[0]


def run(leg_minor: str | None, out_dir: Path, keep: bool) -> int:
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    name = f"todo-runner-{secrets.token_hex(3)}"
    work = Path(cache.sub_dir("tmp")) / name
    work.mkdir(parents=True)
    results: list[tuple[str, int, float]] = []
    ok = False
    try:
        docker.ensure_docker()
        image = ensure_image()
        with step("stand-in mirror (the local registry, this machine's builds)"):
            mirror = stand_in_mirror()
            note(f"stand-in mirror at {mirror} on Docker's default bridge")
        start_container(name, image, mirror, work)
        stand_ins = {"TODO_IMAGE_MIRROR": mirror, "TODO_STAND_IN_MIRROR": "1",
                     "TODO_BROWSER": "system"}  # fmt: skip
        note("stand-in additions to the job's env: " + " ".join(f"{k}={v}" for k, v in
                                                               stand_ins.items()))  # fmt: skip
        matrix_job = Job("matrix", name, {**(jobs["matrix"].get("env") or {})})
        if not run_job(matrix_job, jobs["matrix"]["steps"], out_dir):
            results = matrix_job.results
            return 1
        matrix = json.loads(matrix_job.outputs["matrix"]["matrix"])
        minor = leg_minor or ".".join(versions.KUBERNETES_VERSION.split(".")[:2])
        leg = pick_leg(matrix, minor)
        note(f"leg: {json.dumps(leg)}")
        e2e = Job("e2e", name, {}, matrix=leg)
        e2e.env = {k: evaluate(str(v), e2e, ROOT) for k, v in (jobs["e2e"].get("env") or
                                                                {}).items()}  # fmt: skip
        e2e.env.update(stand_ins)
        ok = run_job(e2e, jobs["e2e"]["steps"], out_dir)
        results = matrix_job.results + e2e.results
    except (RunnerError, docker.EngineError, docker.ImageError, KeyError) as exc:
        print(f"runner: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        _docker("cp", f"{name}:{WORKSPACE}/reports/.", str(out_dir / "reports"), check=False)
        if not keep:
            _docker("rm", "-f", "-v", name, check=False)
            shutil.rmtree(work, ignore_errors=True)
        lines = ["", "== the e2e workflow's steps under a hosted runner's conditions =="]
        lines += [f"{progress.format_seconds(s):>9}  exit {c}  {label}" for label, c, s in results]
        lines.append(f"logs and reports: {out_dir}" + (f"; kept container {name}" if keep else ""))
        print("\n".join(lines), file=sys.stderr)
    return 0 if ok else 1


def out_folder() -> Path:
    """reports/runner/, emptied: the steps' logs, the copied reports and artifacts."""
    out = ROOT / "reports" / "runner"
    shutil.rmtree(out, ignore_errors=True)
    (out / "reports").mkdir(parents=True)
    return out
