"""What this project reads out of kind's Go module instead of restating it.

kind keeps its default CNI/storage manifests and their image names as Go
constants (pkg/build/nodeimage/const_cni.go, const_storage.go), its default
node image in pkg/apis/config/defaults/image.go, its runtime pins as
Dockerfile ARGs (images/base/Dockerfile), the sandbox image in its containerd
config and the local-path-provisioner release in a Makefile. `KindModule`
reads exactly those, from the module in the Go module cache; the parsers
below handle the Go and Dockerfile shapes involved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from toolchain import go, versions

# `const name = "value"` (interpreted string, simple escapes only)
_STRING_CONST = re.compile(r'^\s*(?:const\s+)?(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$', re.M)
_TOKEN = re.compile(r'\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*))\s*')


class GoSourceError(ValueError):
    """The Go source does not have the expected shape (upstream changed?)."""


def string_constants(source: str) -> dict[str, str]:
    """Top-level `const NAME = "..."` declarations (single-line, interpreted strings)."""
    out: dict[str, str] = {}
    for match in _STRING_CONST.finditer(source):
        out[match.group(1)] = bytes(match.group(2), "utf-8").decode("unicode_escape")
    return out


def string_expression(source: str, name: str) -> str:
    """Evaluate `const|var NAME = <expr>` where expr concatenates string literals and constants.

    Raw (backquoted) literals may span lines; identifiers must be string
    constants defined in the same source.
    """
    match = re.search(rf"^(?:const|var)\s+{re.escape(name)}\s*=", source, re.M)
    if not match:
        raise GoSourceError(f"no declaration of {name} found")
    constants = string_constants(source)
    pos = match.end()
    parts: list[str] = []
    while True:
        tok = _TOKEN.match(source, pos)
        if not tok:
            raise GoSourceError(f"cannot parse the expression of {name} at offset {pos}")
        raw, interpreted, ident = tok.groups()
        if raw is not None:
            parts.append(raw)
        elif interpreted is not None:
            parts.append(bytes(interpreted, "utf-8").decode("unicode_escape"))
        else:
            if ident not in constants:
                raise GoSourceError(f"{name} refers to {ident}, which is not a string constant")
            parts.append(constants[ident])
        pos = tok.end()
        if source.startswith("+", pos):
            pos += 1
            continue
        return "".join(parts)


def string_slice(source: str, name: str) -> list[str]:
    """Evaluate `var NAME = []string{a, "b", ...}` with constants or literals."""
    match = re.search(rf"^var\s+{re.escape(name)}\s*=\s*\[\]string\{{([^}}]*)\}}", source, re.M)
    if not match:
        raise GoSourceError(f"no []string declaration of {name} found")
    constants = string_constants(source)
    items: list[str] = []
    for item in (i.strip() for i in match.group(1).split(",")):
        if not item:
            continue
        if item.startswith('"') and item.endswith('"'):
            items.append(item[1:-1])
        elif item in constants:
            items.append(constants[item])
        else:
            raise GoSourceError(f"{name} element {item!r} is not a string constant")
    return items


def dockerfile_args(dockerfile: str) -> dict[str, str]:
    """`ARG NAME="value"` defaults in a Dockerfile (last one wins)."""
    out: dict[str, str] = {}
    for match in re.finditer(r"^ARG\s+(\w+)=(\"[^\"]*\"|\S+)\s*$", dockerfile, re.M):
        out[match.group(1)] = match.group(2).strip('"')
    return out


def sandbox_image(containerd_config: str) -> str:
    """The `sandbox_image` pinned in a containerd (v2-format) config.toml."""
    match = re.search(r'^\s*sandbox_image\s*=\s*"([^"]+)"', containerd_config, re.M)
    if not match:
        raise GoSourceError("no sandbox_image in the containerd config")
    return match.group(1)


def normalize_image(ref: str) -> str:
    """Fully qualify a Docker reference the way containerd names images."""
    name, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
    first = name.split("/")[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}:{tag}"


def docker_name(reference: str) -> str:
    """`docker.io/kindest/x:tag` -> `kindest/x:tag` (how the Docker engine lists it)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


@dataclass(frozen=True)
class KindModule:
    """kind's module source at the pinned version, and the facts read from it."""

    root: Path

    @classmethod
    def pinned(cls) -> KindModule:
        """The kind module at `versions.KIND_VERSION` (downloaded through the Go proxy)."""
        return cls(go.module_dir(versions.KIND_MODULE, versions.KIND_VERSION))

    def _read(self, relative: str) -> str:
        return (self.root / relative).read_text()

    @cached_property
    def _cni(self) -> str:
        return self._read("pkg/build/nodeimage/const_cni.go")

    @cached_property
    def _storage(self) -> str:
        return self._read("pkg/build/nodeimage/const_storage.go")

    @property
    def default_node_image(self) -> str:
        """The node image kind uses unless told otherwise (with its digest)."""
        source = self._read("pkg/apis/config/defaults/image.go")
        return string_constants(source)["Image"]

    @property
    def cni_manifest(self) -> str:
        return string_expression(self._cni, "defaultCNIManifest")

    @property
    def cni_images(self) -> tuple[str, ...]:
        return tuple(string_slice(self._cni, "defaultCNIImages"))

    @property
    def storage_manifest(self) -> str:
        return string_expression(self._storage, "defaultStorageManifest")

    @property
    def storage_images(self) -> tuple[str, ...]:
        return tuple(string_slice(self._storage, "defaultStorageImages"))

    def image(self, constant: str) -> str:
        """One image reference by its Go constant (kindnetdImage, storageHelperImage, ...)."""
        for source in (self._cni, self._storage):
            found = string_constants(source).get(constant)
            if found:
                return found
        raise GoSourceError(f"kind declares no image constant {constant}")

    @property
    def base_pins(self) -> dict[str, str]:
        """The ARG defaults of kind's base image (CONTAINERD_VERSION, RUNC_VERSION, ...)."""
        return dockerfile_args(self._read("images/base/Dockerfile"))

    @property
    def sandbox_image(self) -> str:
        return sandbox_image(self._read("images/base/files/etc/containerd/config.toml"))

    @property
    def base_files(self) -> Path:
        """kind's images/base/files: entrypoint, containerd config, systemd units, hooks."""
        return self.root / "images/base/files"

    @property
    def local_path_provisioner_version(self) -> str:
        """The local-path-provisioner release kind packages (its Makefile's VERSION)."""
        makefile = self._read("images/local-path-provisioner/Makefile")
        match = re.search(r"^VERSION\s*[:?]?=\s*(\S+)", makefile, re.MULTILINE)
        if not match:
            raise GoSourceError("VERSION not found in kind's local-path-provisioner Makefile")
        return match.group(1)
