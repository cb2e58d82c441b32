"""Build Go commands from published modules, offline except for the Go module proxy.

A module's own `replace` directives only apply when it is the main module, and
several projects we need (Kubernetes, etcd) replace their sibling modules
with local paths that the module zip does not contain (`./staging/src/...`,
`../api`). So each build gets a small generated *wrapper* module under the
cache: it requires the upstream module at its tag and replaces every
locally-replaced sibling with the sibling's published version (Kubernetes
publishes `k8s.io/api` etc. as v0.<minor>.<patch> for v1.<minor>.<patch>).
`go build` then runs in the wrapper with `-mod=mod`.

Outputs are cached per build in `<dir>/bin` with a stamp file holding a hash
of everything that determines the result; a matching stamp skips the build.
"""

# ruff: noqa: S603, S607  (a build driver: runs fixed argv lists of docker/go/gcc, never a shell string)

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from airgap.progress import mark_cached, note, step


class GoBuildError(RuntimeError):
    """A Go build or module download failed; the message names the log."""


@dataclass(frozen=True)
class Replace:
    old: str
    old_version: str | None
    new: str
    new_version: str | None

    @property
    def is_local(self) -> bool:
        return self.new_version is None and (
            self.new.startswith("./") or self.new.startswith("../") or self.new.startswith("/")
        )


@dataclass
class GoMod:
    module: str = ""
    go: str = ""
    godebug: list[str] = field(default_factory=list)
    requires: dict[str, str] = field(default_factory=dict)
    replaces: list[Replace] = field(default_factory=list)


_COMMENT = re.compile(r"//.*$")


def _directive_lines(text: str) -> Iterable[tuple[str, str]]:
    """Yield (verb, rest) for each directive, expanding `verb ( ... )` blocks."""
    block: str | None = None
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
            else:
                yield block, line
            continue
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest == "(":
            block = verb
        else:
            yield verb, rest


def parse_go_mod(text: str) -> GoMod:
    """Parse the parts of a go.mod file a wrapper module needs."""
    mod = GoMod()
    for verb, rest in _directive_lines(text):
        if verb == "module":
            mod.module = rest.strip('"')
        elif verb == "go":
            mod.go = rest
        elif verb == "godebug":
            mod.godebug.append(rest)
        elif verb == "require":
            parts = rest.split()
            if len(parts) >= 2:
                mod.requires[parts[0]] = parts[1]
        elif verb == "replace":
            left, arrow, right = rest.partition("=>")
            if not arrow:
                raise ValueError(f"malformed replace directive: {rest!r}")
            lparts, rparts = left.split(), right.split()
            mod.replaces.append(
                Replace(
                    old=lparts[0],
                    old_version=lparts[1] if len(lparts) > 1 else None,
                    new=rparts[0],
                    new_version=rparts[1] if len(rparts) > 1 else None,
                )
            )
    return mod


def kubernetes_staging_version(version: str) -> str:
    """`v1.34.0` -> `v0.34.0`: the tag Kubernetes publishes its staging modules under."""
    match = re.fullmatch(r"v1\.(\d+\.\d+.*)", version)
    if not match:
        raise ValueError(f"not a Kubernetes v1.x version: {version!r}")
    return f"v0.{match.group(1)}"


def wrapper_go_mod(
    upstream: GoMod,
    version: str,
    sibling_version: Callable[[str], str] | None = None,
    name: str = "todo-airgap.local/gobuild",
) -> str:
    """The go.mod of a wrapper module that builds `upstream` at `version`.

    Local-path replaces of modules the upstream requires become replaces with
    the sibling's published version (`sibling_version(version)`, default the
    same tag). Local replaces of modules it does not require (etcd's
    `FORBIDDEN_DEPENDENCY` guards) are dropped; versioned replaces are kept.
    """
    sibling = (sibling_version or (lambda v: v))(version)
    lines = [f"module {name}", ""]
    if upstream.go:
        lines += [f"go {upstream.go}", ""]
    lines += [f"godebug {g}" for g in upstream.godebug]
    if upstream.godebug:
        lines.append("")
    lines += [f"require {upstream.module} {version}", ""]
    replaces: list[str] = []
    for rep in upstream.replaces:
        old = rep.old + (f" {rep.old_version}" if rep.old_version else "")
        if rep.is_local:
            if rep.old in upstream.requires:
                replaces.append(f"\t{old} => {rep.old} {sibling}")
        else:
            new = rep.new + (f" {rep.new_version}" if rep.new_version else "")
            replaces.append(f"\t{old} => {new}")
    if replaces:
        lines += ["replace (", *replaces, ")", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class GoBuild:
    """One upstream module and the commands to build from it."""

    module: str
    version: str
    binaries: tuple[tuple[str, str], ...]  # (output file name, package import path)
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    cgo: bool = False
    sibling_version: Callable[[str], str] | None = None
    extra_env: tuple[tuple[str, str], ...] = ()

    def key(self) -> str:
        """Hash of every input that decides the outputs."""
        doc = {
            "module": self.module,
            "version": self.version,
            "binaries": self.binaries,
            "tags": self.tags,
            "ldflags": self.ldflags,
            "cgo": self.cgo,
            "sibling": self.sibling_version(self.version) if self.sibling_version else None,
            "env": self.extra_env,
            "go": go_version(),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def go_bin() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if not found:
        raise GoBuildError(
            "the Go toolchain is not installed: install Go >= 1.24 (https://go.dev/dl/) "
            "and put `go` on PATH; the offline build compiles Kubernetes from source"
        )
    return found


_GO_VERSION: str | None = None


def go_version() -> str:
    global _GO_VERSION
    if _GO_VERSION is None:
        out = subprocess.run(
            [go_bin(), "env", "GOVERSION"], capture_output=True, text=True, check=True
        )
        _GO_VERSION = out.stdout.strip()
    return _GO_VERSION


def go_env(cgo: bool = False, extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod",
            "GOWORK": "off",
            "CGO_ENABLED": "1" if cgo else "0",
        }
    )
    env.update(dict(extra))
    return env


def _run_logged(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise GoBuildError(
            f"`{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}); log {log}:\n{tail}"
        )


def module_download(module: str, version: str, workdir: Path) -> dict:
    """`go mod download -json module@version` -> its JSON (Dir, GoMod, ...)."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [go_bin(), "mod", "download", "-json", f"{module}@{version}"],
        cwd=workdir,
        env=go_env(),
        capture_output=True,
        text=True,
    )
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or info.get("Error") or not info.get("Dir"):
        detail = info.get("Error") or proc.stderr.strip()
        raise GoBuildError(
            f"cannot download Go module {module}@{version} through the module proxy "
            f"(GOPROXY={os.environ.get('GOPROXY', 'default')}): {detail}"
        )
    return info


def module_dir(module: str, version: str, workdir: Path) -> Path:
    """The module's extracted source in the module cache (downloaded if needed)."""
    return Path(module_download(module, version, workdir)["Dir"])


def build(spec: GoBuild, dest: Path, label: str | None = None) -> Path:
    """Build `spec`'s binaries into `dest/bin` unless the stamp says they are current."""
    bin_dir = dest / "bin"
    stamp = dest / "stamp"
    key = spec.key()
    title = label or f"go build {spec.module}@{spec.version}"
    with step(title):
        names = [name for name, _ in spec.binaries]
        if (
            stamp.exists()
            and stamp.read_text().strip() == key
            and all((bin_dir / n).is_file() for n in names)
        ):
            mark_cached(", ".join(names))
            return bin_dir
        work = dest / "module"
        work.mkdir(parents=True, exist_ok=True)
        log = dest / "build.log"
        log.write_text("")
        info = module_download(spec.module, spec.version, work)
        upstream = parse_go_mod(Path(info["GoMod"]).read_text())
        (work / "go.mod").write_text(wrapper_go_mod(upstream, spec.version, spec.sibling_version))
        # go.sum is regenerated by -mod=mod; keep an existing one (it only grows).
        env = go_env(spec.cgo, spec.extra_env)
        tmp_bin = dest / "bin.tmp"
        shutil.rmtree(tmp_bin, ignore_errors=True)
        tmp_bin.mkdir(parents=True)
        flags = ["-trimpath"]
        if spec.tags:
            flags += ["-tags", ",".join(spec.tags)]
        flags += ["-ldflags", " ".join(("-s", "-w", *spec.ldflags))]
        note(f"building {', '.join(names)} (log: {log})")
        for name, package in spec.binaries:
            _run_logged(
                [go_bin(), "build", *flags, "-o", str(tmp_bin / name), package], work, env, log
            )
        shutil.rmtree(bin_dir, ignore_errors=True)
        tmp_bin.rename(bin_dir)
        stamp.write_text(key + "\n")
        return bin_dir
