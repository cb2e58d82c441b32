"""Build the local images (skipped when an image with the same recipe exists).

Every image carries the label `org.todo-app.airgap=<recipe>`, a hash of its
Dockerfile, the files it copies in and the pinned versions it uses. A rerun
compares labels and rebuilds only what changed, so a warm run takes seconds.
"""

# ruff: noqa: S603, S607 - this module runs fixed build tools (docker, go, apt) by name

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from airgap import cache, versions
from airgap.docker_engine import ensure_debian_base, image_label
from airgap.progress import mark_cached, note, step
from airgap.tools import go_env, run_go

HERE = Path(__file__).parent


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says why."""


def recipe_hash(folder: Path, extra: Iterable[str] = ()) -> str:
    """Hash of a recipe folder's files plus extra strings (versions, base image id)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


def _image_id(name: str) -> str:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def docker_build(context: Path, tags: list[str], recipe: str, log_name: str) -> None:
    """`docker build` a context with the recipe label; log to the cache, print progress."""
    log = cache.sub_dir("logs") / f"image-{log_name}.log"
    cmd = ["docker", "build", "--build-arg", f"RECIPE={recipe}"]
    cmd += ["--build-arg", f"BASE_IMAGE={versions.DEBIAN_BASE_IMAGE}"]
    for tag in tags:
        cmd += ["-t", tag]
    cmd.append(str(context))
    note(f"docker build -t {' -t '.join(tags)}  (log: {log})")
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            if re.match(r"^Step \d+/\d+ :", line):
                note(line.strip()[:120])
        code = proc.wait()
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise ImageBuildError(f"docker build of {tags[0]} failed ({code}); end of {log}:\n{tail}")
    for tag in tags:
        if image_label(tag) != recipe:
            raise ImageBuildError(f"{tag} was built but does not carry label {recipe}")


def _ensure(
    name: str,
    recipe_dir: Path,
    tags: list[str],
    extra: Iterable[str],
    prepare=None,
) -> str:
    """Build `tags` from recipe_dir unless every tag already has this recipe's label."""
    with step(f"image {tags[0]}"):
        base_id = _image_id(versions.DEBIAN_BASE_IMAGE)
        recipe = recipe_hash(recipe_dir, [*extra, base_id])
        if all(image_label(tag) == recipe for tag in tags):
            mark_cached(f"recipe {recipe}")
            return tags[0]
        with tempfile.TemporaryDirectory(dir=cache.sub_dir("tmp")) as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(recipe_dir, context)
            if prepare is not None:
                prepare(context)
            docker_build(context, tags, recipe, name)
        return tags[0]


def _scratch_rootfs(context: Path) -> None:
    """passwd/group with nobody (65534) and a sticky /tmp for FROM-scratch images."""
    root = context / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)


def go_build_module_binary(
    module: str, version: str, package: str, name: str, ldflags: str = ""
) -> Path:
    """`go install package@version` (static) into a versioned cache folder; cached."""
    out_dir = cache.sub_dir("gobuild", name, version)
    binary = out_dir / Path(package).name
    if binary.exists():
        note(f"cached binary {binary}")
        return binary
    env = {**go_env(), "GOBIN": str(out_dir), "CGO_ENABLED": "0"}
    log = cache.sub_dir("logs") / f"go-{name}-{version}.log"
    args = ["install", "-trimpath"]
    if ldflags:
        args += ["-ldflags", ldflags]
    run_go([*args, f"{package}@{version}"], None, env, log)
    return binary


# --- kind's module: the image names it references --------------------------------------


def kind_module_dir() -> Path:
    """The kind module's folder in the Go module cache (downloaded if needed)."""
    env = go_env()
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{versions.KIND_MODULE}@{versions.KIND_VERSION}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise ImageBuildError(f"go mod download {versions.KIND_MODULE} failed:\n{result.stderr}")
    return Path(json.loads(result.stdout)["Dir"])


def go_string_const(source: str, name: str) -> str:
    """The value of `const name = "..."` in Go source text."""
    match = re.search(rf'^\s*(?:const\s+)?{re.escape(name)}\s*=\s*"([^"]+)"', source, re.MULTILINE)
    if not match:
        raise ImageBuildError(f"Go constant {name} not found")
    return match.group(1)


def kind_default_images(kind_dir: Path | None = None) -> dict[str, str]:
    """kind's CNI and storage image references: kindnetd, provisioner, helper, node."""
    kind_dir = kind_dir or kind_module_dir()
    nodeimage = kind_dir / "pkg" / "build" / "nodeimage"
    cni = (nodeimage / "const_cni.go").read_text()
    storage = (nodeimage / "const_storage.go").read_text()
    node = (kind_dir / "pkg" / "apis" / "config" / "defaults" / "image.go").read_text()
    return {
        "kindnetd": go_string_const(cni, "kindnetdImage"),
        "local-path-provisioner": go_string_const(storage, "storageProvisionerImage"),
        "local-path-helper": go_string_const(storage, "storageHelperImage"),
        "node": go_string_const(node, "Image"),
    }


def kind_local_path_provisioner_version(kind_dir: Path | None = None) -> str:
    """The local-path-provisioner release kind packages (images/.../Makefile VERSION=)."""
    kind_dir = kind_dir or kind_module_dir()
    makefile = (kind_dir / "images" / "local-path-provisioner" / "Makefile").read_text()
    match = re.search(r"^VERSION\s*[:?]?=\s*(\S+)", makefile, re.MULTILINE)
    if not match:
        raise ImageBuildError("VERSION not found in kind's local-path-provisioner Makefile")
    return match.group(1)


def docker_name(reference: str) -> str:
    """`docker.io/kindest/x:tag` -> `kindest/x:tag` (how docker names it locally)."""
    return reference.removeprefix("docker.io/").removeprefix("library/")


# --- the images --------------------------------------------------------------------------


def ensure_python_base() -> str:
    ensure_debian_base()
    return _ensure("python", HERE / "python", [versions.PYTHON_LOCAL], [versions.PYTHON_VERSION])


def postgres_local_image() -> str:
    return f"{versions.POSTGRES_LOCAL_REPOSITORY}:{versions.POSTGRES_TAG}"


def ensure_postgres() -> str:
    ensure_debian_base()
    return _ensure(
        "postgres", HERE / "postgres", [postgres_local_image()], [versions.POSTGRES_MAJOR]
    )


def ensure_metrics_server() -> str:
    version = versions.METRICS_SERVER_VERSION
    ensure_debian_base()

    def prepare(context: Path) -> None:
        stamp = " ".join(
            f"-X k8s.io/client-go/pkg/version.{key}={value}"
            for key, value in (("gitVersion", version), ("gitTreeState", "clean"))
        )
        binary = go_build_module_binary(
            versions.METRICS_SERVER_MODULE,
            version,
            f"{versions.METRICS_SERVER_MODULE}/cmd/metrics-server",
            "metrics-server",
            ldflags=f"-s -w {stamp}",
        )
        shutil.copy2(binary, context / "metrics-server")
        _scratch_rootfs(context)

    return _ensure(
        "metrics-server",
        HERE / "metrics-server",
        [versions.METRICS_SERVER_LOCAL],
        [version, "ldflags-1"],
        prepare,
    )


def _ensure_kindnetd(tag: str) -> str:
    def prepare(context: Path) -> None:
        env = go_env()
        log = cache.sub_dir("logs") / "go-kindnetd.log"
        run_go(
            ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(context / "kindnetd"), "."],
            context,
            env,
            log,
        )

    return _ensure("kindnetd", HERE / "kindnetd", [tag], [], prepare)


def _ensure_local_path_provisioner(tag: str, version: str) -> str:
    def prepare(context: Path) -> None:
        binary = go_build_module_binary(
            versions.LOCAL_PATH_PROVISIONER_MODULE,
            version,
            versions.LOCAL_PATH_PROVISIONER_MODULE,
            "local-path-provisioner",
            ldflags=f"-s -w -X main.VERSION={version}",
        )
        shutil.copy2(binary, context / "local-path-provisioner")
        _scratch_rootfs(context)

    return _ensure(
        "local-path-provisioner", HERE / "local-path-provisioner", [tag], [version], prepare
    )


def ensure_cni_and_storage_images() -> list[str]:
    """kind's default CNI (kindnetd) and storage images, under the exact names kind v0.30.0
    references (read from the kind module), built locally. Returns the references as kind
    writes them (e.g. `docker.io/kindest/kindnetd:...`); docker lists them without
    `docker.io/`."""
    ensure_debian_base()
    with step("kind CNI and storage images"):
        kind_dir = kind_module_dir()
        refs = kind_default_images(kind_dir)
        version = kind_local_path_provisioner_version(kind_dir)
        if version != versions.LOCAL_PATH_PROVISIONER_VERSION:
            note(
                f"kind packages local-path-provisioner {version}; "
                f"versions.py pins {versions.LOCAL_PATH_PROVISIONER_VERSION}: using kind's"
            )
        _ensure_kindnetd(docker_name(refs["kindnetd"]))
        _ensure_local_path_provisioner(docker_name(refs["local-path-provisioner"]), version)
        _ensure(
            "local-path-helper",
            HERE / "local-path-helper",
            [docker_name(refs["local-path-helper"])],
            [],
        )
        return [refs["kindnetd"], refs["local-path-provisioner"], refs["local-path-helper"]]


def ensure_images() -> dict[str, str]:
    """Every local image the e2e suite and the node image need; returns role -> name."""
    with step("images"):
        ensure_debian_base()
        built = {
            "python": ensure_python_base(),
            "postgres": ensure_postgres(),
            "metrics-server": ensure_metrics_server(),
        }
        for ref in ensure_cni_and_storage_images():
            built[ref] = ref
    return built
