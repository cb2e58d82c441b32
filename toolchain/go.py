"""Go builds from published modules: the one way this project compiles Go.

Everything Go-built here (kind, helm, kubectl, actionlint, the Kubernetes
components, containerd, runc, etcd, CoreDNS, metrics-server, kube-router, ...)
is a `GoBuild`: a module at a version and the commands to build from it.

A module's own `replace` directives only apply when it is the main module,
and several we need (Kubernetes, etcd) replace their sibling modules with
local paths that the module zip does not contain (`./staging/src/...`,
`../api`). So each build runs in a small generated *wrapper* module under
the cache that requires the upstream module at its tag and replaces every
locally-replaced sibling with the sibling's published version (Kubernetes
publishes `k8s.io/api` etc. as v0.<minor>.<patch> for v1.<minor>.<patch>).

Outputs are cached in `<dest>/bin` with a stamp holding a hash of every input
(module, version, packages, tags, flags, the Go version); a matching stamp
skips the build. When the Go checksum database cannot be reached through the
proxy, a failed command is retried once with GOSUMDB=off, saying so.
"""

# ruff: noqa: S603 - runs the go toolchain with fixed argument lists

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from toolchain import cache as cache_mod
from toolchain.progress import mark_cached, note, step

# Errors that mean "the checksum database is out of reach", not "the build is broken".
_SUMDB_UNREACHABLE = re.compile(r"sum\.golang\.org|verifying .*: .*(dial|timeout|refused)")


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
        return self.new_version is None and self.new.startswith(("./", "../", "/"))


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
    name: str = "todo-build.local/gobuild",
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
    """One upstream module and the commands to build from it.

    `cgo=True` builds link C libraries from the host; which ones is read from
    the packages themselves (`cgo_pkg_config()`), and the host requirements
    must provide them (a test checks that).
    """

    name: str  # cache folder and progress label
    module: str
    version: str
    binaries: tuple[tuple[str, str], ...]  # (output file name, package import path)
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    cgo: bool = False
    sibling_version: Callable[[str], str] | None = None

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
            "go": go_version(),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def out_dir(self) -> Path:
        return cache_mod.sub_dir("go", f"{self.name}-{self.version}")


def go_bin() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if not found:
        raise GoBuildError(
            "the Go toolchain is not installed: install Go (see the README for the version) "
            "and put `go` on PATH; kind, helm, kubectl and the offline images are built from "
            "Go modules"
        )
    return found


@cache
def go_version() -> str:
    out = subprocess.run([go_bin(), "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def go_env(cgo: bool = False) -> dict[str, str]:
    """Local toolchain only, the wrapper's module graph, static unless cgo is asked for."""
    env = dict(os.environ)
    env.update(
        {
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GOWORK": "off",
            "CGO_ENABLED": "1" if cgo else "0",
        }
    )
    return env


def run_go(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    """Run `go args...` in `cwd`, appending its output to `log`; return stdout.

    Retried once with GOSUMDB=off when the checksum database is out of reach.
    """
    cmd = [go_bin(), *args]
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode == 0:
        return proc.stdout
    if _SUMDB_UNREACHABLE.search(proc.stderr) and env.get("GOSUMDB") != "off":
        note("the Go checksum database is unreachable: retrying with GOSUMDB=off")
        return run_go(args, cwd, {**env, "GOSUMDB": "off"}, log)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
    raise GoBuildError(
        f"`go {' '.join(args[:2])} ...` failed (exit {proc.returncode}); log {log}:\n{tail}"
    )


def module_download(module: str, version: str) -> dict:
    """`go mod download -json module@version` -> its JSON (Dir, GoMod, ...)."""
    work = cache_mod.sub_dir("go", "download")
    log = cache_mod.sub_dir("logs") / "go-mod-download.log"
    try:
        info = json.loads(
            run_go(["mod", "download", "-json", f"{module}@{version}"], work, go_env(), log)
        )
    except (GoBuildError, json.JSONDecodeError) as exc:
        raise GoBuildError(
            f"cannot download Go module {module}@{version} through the module proxy "
            f"(GOPROXY={os.environ.get('GOPROXY', 'default')}): {exc}"
        ) from exc
    if info.get("Error") or not info.get("Dir"):
        raise GoBuildError(f"cannot download Go module {module}@{version}: {info.get('Error')}")
    return info


def module_dir(module: str, version: str) -> Path:
    """The module's extracted source in the module cache (downloaded if needed)."""
    return Path(module_download(module, version)["Dir"])


def prepare_wrapper(spec: GoBuild) -> Path:
    """Write the wrapper module for `spec` under its cache folder; return that folder."""
    work = spec.out_dir() / "module"
    work.mkdir(parents=True, exist_ok=True)
    info = module_download(spec.module, spec.version)
    upstream = parse_go_mod(Path(info["GoMod"]).read_text())
    # go.sum is regenerated by -mod=mod; an existing one is kept (it only grows).
    (work / "go.mod").write_text(wrapper_go_mod(upstream, spec.version, spec.sibling_version))
    return work


def build(spec: GoBuild) -> Path:
    """Build `spec`'s binaries into `<cache>/go/<name>-<version>/bin` unless current."""
    dest = spec.out_dir()
    bin_dir, stamp, key = dest / "bin", dest / "stamp", spec.key()
    names = [name for name, _ in spec.binaries]
    with cache_mod.cache_lock(f"go-{spec.name}"), step(f"go build {spec.name} {spec.version}"):
        if (
            stamp.exists()
            and stamp.read_text().strip() == key
            and all((bin_dir / n).is_file() for n in names)
        ):
            mark_cached(", ".join(names))
            return bin_dir
        log = dest / "build.log"
        log.write_text("")
        work = prepare_wrapper(spec)
        env = go_env(spec.cgo)
        tmp_bin = dest / "bin.tmp"
        shutil.rmtree(tmp_bin, ignore_errors=True)
        tmp_bin.mkdir(parents=True)
        flags = ["-trimpath"]
        if spec.tags:
            flags += ["-tags", ",".join(spec.tags)]
        flags += ["-ldflags", " ".join(("-s", "-w", *spec.ldflags))]
        note(f"building {', '.join(names)} (log: {log})")
        if all(name == package.rsplit("/", 1)[-1] for name, package in spec.binaries):
            # One go command for every binary: their links run in parallel, not one by one.
            packages = [package for _, package in spec.binaries]
            run_go(["build", *flags, "-o", f"{tmp_bin}/", *packages], work, env, log)
        else:
            for name, package in spec.binaries:
                run_go(["build", *flags, "-o", str(tmp_bin / name), package], work, env, log)
        shutil.rmtree(bin_dir, ignore_errors=True)
        tmp_bin.rename(bin_dir)
        stamp.write_text(key + "\n")
        return bin_dir


def build_local(name: str, source: Path, out: Path, log_name: str) -> Path:
    """`go build` the main package in a folder of this repository into `out`."""
    log = cache_mod.sub_dir("logs") / f"go-{log_name}.log"
    log.write_text("")
    env = {**go_env(), "GOFLAGS": "-buildvcs=false"}
    with step(f"go build {name}"):
        run_go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out), "."], source, env, log)
    return out


def cgo_pkg_config(spec: GoBuild) -> set[str]:
    """The pkg-config names every package of a cgo build links against (from `go list`)."""
    work = prepare_wrapper(spec)
    log = cache_mod.sub_dir("logs") / f"go-list-{spec.name}.log"
    args = ["list", "-deps", "-f", '{{join .CgoPkgConfig " "}}']
    if spec.tags:
        args += ["-tags", ",".join(spec.tags)]
    out = run_go([*args, *(pkg for _, pkg in spec.binaries)], work, go_env(spec.cgo), log)
    return {name for line in out.splitlines() for name in line.split()}
