"""The run's decisions, made once and handed down: image source, images, enforcer.

- Image source: `upstream` when a container registry answers (one HTTPS probe
  of Docker Hub's registry API, 3 s at most), else `local` (everything built
  here by airgap/). `TODO_IMAGE_SOURCE=upstream|local` skips the probe.
- Images: the names for that source; the kind node image follows the pinned
  Kubernetes minor or an explicit node image.
- NetworkPolicy enforcer: kindnet enforces policies itself only where the
  kernel has the nft `queue` expression, and the offline kindnetd enforces
  none; elsewhere kube-router (firewall only) is installed.
  `TODO_NETPOL_ENFORCER=kindnet|kube-router` skips the probe.
- Helm major: 4 unless `TODO_HELM=3` (Helm 3 is still proven by one leg of the
  workflow matrix); `helm_tool()` names the binary of that major.
- Browser of the browser tests: Debian's Chromium offline, Playwright's own
  build with internet (`toolchain.browser`; `TODO_BROWSER` overrides).
- Mirror: with `TODO_IMAGE_MIRROR=host[:port][/path]` (or the harness's
  `--image-mirror`), every upstream image is named, pulled and deployed
  through the mirror, one prefix per source registry as proxy caches lay
  them out: `postgres:15-bookworm` is `<mirror>/docker.io/library/postgres:
  15-bookworm`, metrics-server `<mirror>/registry.k8s.io/metrics-server/...`.
  `TODO_IMAGE_MIRROR_PREFIXES=docker.io=dockerhub,...` renames a source's
  prefix (e.g. a Harbor project per source). The registry probe then asks
  the mirror, not Docker Hub.

The noxfile decides once per session and passes the result to every process
it starts in `TODO_RUN_CHOICE` (JSON); `current()` reads it back, so no
later step probes again or can disagree.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from toolchain import browser, versions
from toolchain.progress import note

SOURCES = ("upstream", "local")
ENV_SOURCE = "TODO_IMAGE_SOURCE"
ENV_MIRROR = "TODO_IMAGE_MIRROR"
ENV_MIRROR_PREFIXES = "TODO_IMAGE_MIRROR_PREFIXES"
# Proof only: the mirror holds this machine's own builds under upstream names, so an
# upstream digest pin cannot be served; the pin is replaced by the digest the mirror
# serves for that tag, and the run says so. Real mirrors keep every pin.
ENV_STAND_IN = "TODO_STAND_IN_MIRROR"
MIRRORED_SOURCES = ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io")
ENV_ENFORCER = "TODO_NETPOL_ENFORCER"
ENV_CHOICE = "TODO_RUN_CHOICE"
ENV_HELM = "TODO_HELM"
REGISTRY_PROBE_URL = "https://registry-1.docker.io/v2/"

# The same rule set twice: once as a control (a counter, which any nftables kernel
# loads), once with the queue statement kindnet's policy engine uses.
_PROBE_TEMPLATE = """\
table inet todo_netpol_probe {{
    chain forward {{
        type filter hook forward priority 0; policy accept;
        meta l4proto tcp {statement}
    }}
}}
"""
PROBE_CONTROL = _PROBE_TEMPLATE.format(statement="counter")
PROBE_QUEUE = _PROBE_TEMPLATE.format(statement="queue num 100 bypass")


class DecisionError(ValueError):
    """An override holds something that is not a choice; the message lists the choices."""


@dataclass(frozen=True)
class ImageSet:
    """Every image one run uses."""

    source: str
    node: str
    python_base: str
    postgres_repository: str
    postgres_tag: str
    metrics_server: str
    kube_router: str
    app: str = versions.APP_IMAGE

    @property
    def postgres(self) -> str:
        return f"{self.postgres_repository}:{self.postgres_tag}"


@dataclass(frozen=True)
class RunChoice:
    source: str
    source_reason: str
    images: ImageSet
    enforcer: str
    enforcer_reason: str
    browser: str
    browser_reason: str
    mirror: str | None = None  # host[:port][/path] every upstream image comes through
    mirror_notes: tuple[str, ...] = ()  # a stand-in mirror's replaced pins
    helm: str = versions.HELM_DEFAULT_MAJOR
    helm_reason: str = "the default"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunChoice:
        data = json.loads(text)
        return cls(**{**data, "images": ImageSet(**data["images"]),
                      "mirror_notes": tuple(data.get("mirror_notes") or ())})  # fmt: skip

    def env(self) -> dict[str, str]:
        """The environment that hands this choice to child processes."""
        return {ENV_CHOICE: self.to_json()}

    def describe(self) -> str:
        return (
            f"image source {self.source} ({self.source_reason}); node {self.images.node}; "
            f"NetworkPolicy enforcer {self.enforcer} ({self.enforcer_reason}); "
            f"browser {self.browser} ({self.browser_reason}); "
            f"Helm {self.helm} ({self.helm_reason})"
            + (f"; images through the mirror {self.mirror}" if self.mirror else "")
            + "".join(f"; STAND-IN MIRROR {n}" for n in self.mirror_notes)
        )

    def helm_tool(self) -> str:
        """The tool name (toolchain.tools) of this run's Helm major."""
        return helm_tool(self.helm)


# --- mirror ------------------------------------------------------------------------------


def split_reference(ref: str) -> tuple[str, str, str]:
    """(registry, repository, tag-and/or-digest suffix) the way Docker reads a reference:
    `postgres:15` is docker.io, library/postgres, ":15"."""
    name, digest = (ref.split("@", 1) + [""])[:2]
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = name[colon:] if colon > slash else ""
    name = name[: len(name) - len(tag)] if tag else name
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name
    if registry == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository, tag + (f"@{digest}" if digest else "")


@dataclass(frozen=True)
class Mirror:
    """A registry that serves upstream images under one prefix per source registry."""

    address: str  # host[:port][/path]
    prefixes: tuple[tuple[str, str], ...] = ()  # (source registry, prefix) renamed

    @classmethod
    def from_env(cls, environ: dict[str, str], given: str | None = None) -> Mirror | None:
        address = (given or environ.get(ENV_MIRROR) or "").strip().rstrip("/")
        if not address:
            return None
        if "://" in address or " " in address:
            raise DecisionError(
                f"image mirror {address!r}: give host[:port][/path] without a scheme, "
                "e.g. harbor.example.com/proxy"
            )
        prefixes = []
        for item in filter(None, (environ.get(ENV_MIRROR_PREFIXES) or "").split(",")):
            source, sep, prefix = item.strip().partition("=")
            if not sep or source not in MIRRORED_SOURCES or not prefix:
                raise DecisionError(
                    f"{ENV_MIRROR_PREFIXES}: {item!r} is not source=prefix with a source among "
                    f"{', '.join(MIRRORED_SOURCES)}"
                )
            prefixes.append((source, prefix.strip("/")))
        return cls(address, tuple(prefixes))

    @property
    def registry(self) -> str:
        """The mirror's host[:port], where /v2/ answers."""
        return self.address.split("/", 1)[0]

    def prefix(self, source: str) -> str:
        return dict(self.prefixes).get(source, source)

    def ref(self, upstream: str) -> str:
        """The mirror's name for an upstream reference."""
        source, repository, suffix = split_reference(upstream)
        return f"{self.address}/{self.prefix(source)}/{repository}{suffix}"


def _mirror_digest(mirrored: str) -> str | None:
    """The digest the mirror serves for a mirrored reference's tag (registry API HEAD)."""
    name = mirrored.split("@", 1)[0]
    registry, _, rest = name.partition("/")
    repository, _, tag = rest.rpartition(":")
    accept = ", ".join((
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ))  # fmt: skip
    for scheme in ("https", "http"):
        request = urllib.request.Request(  # noqa: S310 - the mirror the user named
            f"{scheme}://{registry}/v2/{repository}/manifests/{tag}",
            method="HEAD", headers={"Accept": accept},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                return answer.headers.get("Docker-Content-Digest")
        except (urllib.error.URLError, OSError, ssl.SSLError):
            continue
    return None


def stand_in_digest(mirrored: str) -> tuple[str, str]:
    """(reference, note) for a stand-in mirror: a digest pin replaced by the one it serves."""
    if "@" not in mirrored:
        return mirrored, ""
    name, pinned = mirrored.split("@", 1)
    served = _mirror_digest(mirrored)
    if served is None:
        raise DecisionError(f"the stand-in mirror serves no manifest for {name}")
    return f"{name}@{served}", f"{name}: pin {pinned[:19]}... replaced by the mirror's {served}"


# --- image source ------------------------------------------------------------------------


def registry_reachable(url: str = REGISTRY_PROBE_URL, timeout: float = 3.0) -> bool:
    """True if the registry answers HTTPS at all (any HTTP status, e.g. 401, counts)."""
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - fixed https URL
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer (Docker Hub says 401): reachable
    except (urllib.error.URLError, TimeoutError, ssl.SSLError, OSError):
        return False


def image_source(
    environ: dict[str, str], probe=registry_reachable, mirror: Mirror | None = None
) -> tuple[str, str]:
    """("upstream" | "local", why): TODO_IMAGE_SOURCE if set, else the registry probe (of
    the mirror, when one is named: upstream images come through it)."""
    override = environ.get(ENV_SOURCE, "").strip().lower()
    if override:
        if override not in SOURCES:
            raise DecisionError(
                f"{ENV_SOURCE}={environ[ENV_SOURCE]!r} is not valid: use 'upstream' (pull "
                "public images) or 'local' (build them here without a registry)"
            )
        return override, f"{ENV_SOURCE}={override}"
    urls = (
        [f"https://{mirror.registry}/v2/", f"http://{mirror.registry}/v2/"]
        if mirror
        else [REGISTRY_PROBE_URL]
    )
    reachable = any(probe(url) for url in urls)
    note(f"registry probe: {urls[0]} {'answers' if reachable else 'is unreachable'}")
    if reachable:
        return "upstream", (f"the mirror {mirror.address} answers" if mirror
                            else "a container registry answers")  # fmt: skip
    return "local", "no container registry answers: building every image here"


def image_set(
    source: str,
    node_image: str | None = None,
    k8s_version: str | None = None,
    mirror: Mirror | None = None,
) -> ImageSet:
    """The images of `source`; a Kubernetes minor or an explicit node image picks the node;
    upstream images (an explicit node image too) are named through `mirror` if there is one."""
    if source not in SOURCES:
        raise DecisionError(f"unknown image source {source!r}; use one of {SOURCES}")
    local = source == "local"
    node = versions.KIND_NODE_LOCAL if local else versions.KIND_NODE_UPSTREAM
    if k8s_version:
        minor = ".".join(("v" + k8s_version.lstrip("v")).split(".")[:2])
        if minor not in versions.KUBERNETES_MATRIX:
            raise DecisionError(
                f"no node image pinned for Kubernetes {k8s_version}; choose one of "
                f"{', '.join(versions.KUBERNETES_MATRIX)} or pass a node image"
            )
        if local and not versions.KUBERNETES_VERSION.startswith(minor + "."):
            raise DecisionError(
                f"offline, only the locally built node image ({versions.KIND_NODE_LOCAL}) "
                f"exists; Kubernetes {k8s_version} needs a registry (or pass a node image)"
            )
        if not local:
            node = versions.KUBERNETES_MATRIX[minor]
    if local:
        return ImageSet(
            source=source,
            node=node_image or node,
            python_base=versions.PYTHON_LOCAL,
            postgres_repository=versions.POSTGRES_LOCAL_REPOSITORY,
            postgres_tag=versions.POSTGRES_TAG,
            metrics_server=versions.METRICS_SERVER_LOCAL,
            kube_router=versions.KUBE_ROUTER_LOCAL,
        )
    name = mirror.ref if mirror else (lambda ref: ref)
    postgres = name(f"{versions.POSTGRES_UPSTREAM_REPOSITORY}:{versions.POSTGRES_TAG}")
    return ImageSet(
        source=source,
        node=name(node_image or node),
        python_base=name(versions.PYTHON_UPSTREAM),
        postgres_repository=postgres.rsplit(":", 1)[0],
        postgres_tag=versions.POSTGRES_TAG,
        metrics_server=name(versions.METRICS_SERVER_UPSTREAM),
        kube_router=name(versions.KUBE_ROUTER_UPSTREAM),
    )


# --- Helm major -----------------------------------------------------------------------------


def helm_major(environ: dict[str, str]) -> tuple[str, str]:
    """("4" | "3", why): TODO_HELM if set, else Helm 4."""
    value = environ.get(ENV_HELM, "").strip().lower().removeprefix("v")
    if not value:
        return versions.HELM_DEFAULT_MAJOR, f"the default: {ENV_HELM} unset"
    if value not in versions.HELM_MAJORS:
        raise DecisionError(
            f"{ENV_HELM}={environ[ENV_HELM]!r} is not valid: use one of "
            f"{', '.join(versions.HELM_MAJORS)} (the Helm major to deploy with)"
        )
    return value, f"{ENV_HELM}={value}"


def helm_tool(major: str) -> str:
    """`helm` for Helm 4, `helm3` for Helm 3 (the names in toolchain.tools)."""
    return "helm" if major == "4" else f"helm{major}"


# --- NetworkPolicy enforcer ----------------------------------------------------------------


def enforcer_override(environ: dict[str, str]) -> str | None:
    value = (environ.get(ENV_ENFORCER) or "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in ("kindnet", "kube-router"):
        raise DecisionError(
            f"{ENV_ENFORCER}={environ.get(ENV_ENFORCER)!r} is not valid; "
            "use one of: auto, kindnet, kube-router"
        )
    return value


def kernel_config_nft_queue(config_text: str | None = None) -> bool | None:
    """CONFIG_NFT_QUEUE from /proc/config.gz: True (y/m), False (not set), None (unknown)."""
    if config_text is None:
        try:
            config_text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
        except (OSError, EOFError, UnicodeDecodeError):
            return None
    for line in config_text.splitlines():
        line = line.strip()
        if line in ("CONFIG_NFT_QUEUE=y", "CONFIG_NFT_QUEUE=m"):
            return True
        if line == "# CONFIG_NFT_QUEUE is not set":
            return False
    return None


def _load_in_new_netns(nft: str, ruleset: str) -> subprocess.CompletedProcess[str]:
    """`nft -f -` inside a fresh network namespace (gone when the command exits)."""
    unshare = shutil.which("unshare") or "unshare"
    prefix = [unshare, "--net"]
    if os.geteuid() != 0:  # an unprivileged user namespace can still make a netns
        prefix = [unshare, "--user", "--map-root-user", "--net"]
    return subprocess.run(  # noqa: S603
        [*prefix, nft, "-f", "-"], input=ruleset, capture_output=True, text=True, timeout=30
    )


def probe_nft_queue() -> tuple[bool | None, str]:
    """Try to load a `queue num 100 bypass` rule: (True|False|None if untried, how we know)."""
    if platform.system() != "Linux":
        return None, f"host is {platform.system()}, not Linux: cannot inspect the engine's kernel"
    nft = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if nft is None:
        return None, "nft is not installed"
    try:
        control = _load_in_new_netns(nft, PROBE_CONTROL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot run unshare/nft: {exc}"
    if control.returncode != 0:
        return None, f"control rule set did not load ({control.stderr.strip()[:200]})"
    queue = _load_in_new_netns(nft, PROBE_QUEUE)
    if queue.returncode == 0:
        return True, "nft loaded a `queue num 100 bypass` rule in a throwaway netns"
    detail = queue.stderr.strip().splitlines()[0] if queue.stderr.strip() else "no error text"
    return False, f"nft refused a `queue num 100 bypass` rule in a throwaway netns: {detail}"


def decide_enforcer(
    override: str | None,
    source: str,
    queue_supported: bool | None,
    config_queue: bool | None,
) -> tuple[str, str]:
    """Pure decision: (enforcer, reason) from the override and what the probes found."""
    if override:
        return override, f"{ENV_ENFORCER}={override}"
    if source == "local":
        return "kube-router", "local images: the offline kindnetd implements no NetworkPolicy"
    if queue_supported is True:
        return "kindnet", "kernel has nft queue: kindnet enforces NetworkPolicy itself"
    if queue_supported is False:
        return "kube-router", "kernel lacks nft queue: kindnet cannot enforce NetworkPolicy"
    if config_queue is True:
        return "kindnet", "/proc/config.gz has CONFIG_NFT_QUEUE: kindnet enforces NetworkPolicy"
    if config_queue is False:
        return "kube-router", "/proc/config.gz: CONFIG_NFT_QUEUE is not set"
    # Unknown either way: kube-router works next to a working kindnet too (both
    # implement the same policies), so this only costs a pod.
    return "kube-router", "cannot tell whether the kernel has nft queue: using kube-router"


def enforcer(environ: dict[str, str], source: str) -> tuple[str, str]:
    """(enforcer, reason) for a kind cluster, probing the kernel only when that matters."""
    override = enforcer_override(environ)
    if override or source == "local":
        return decide_enforcer(override, source, None, None)
    supported, how = probe_nft_queue()
    note(f"nft queue probe: {how}")
    config = kernel_config_nft_queue() if supported is None else None
    return decide_enforcer(override, source, supported, config)


# --- the run -----------------------------------------------------------------------------


def decide(
    environ: dict[str, str] | None = None,
    *,
    node_image: str | None = None,
    k8s_version: str | None = None,
    existing_cluster: bool = False,
    mirror: str | None = None,
    probe=registry_reachable,
) -> RunChoice:
    """Make every decision of a run (one registry probe at most)."""
    env = dict(os.environ if environ is None else environ)
    named = Mirror.from_env(env, mirror)
    source, why = image_source(env, probe, named)
    used = named if source == "upstream" else None
    images = image_set(source, node_image, k8s_version, used)
    notes: list[str] = []
    if used and env.get(ENV_STAND_IN, "").strip().lower() in ("1", "true", "yes"):
        node, replaced = stand_in_digest(images.node)
        images = replace(images, node=node)
        notes += [replaced] if replaced else []
    if existing_cluster:
        chosen, reason = "cluster", "existing cluster: its own network plugin decides"
    else:
        chosen, reason = enforcer(env, source)
    try:
        browser_kind, browser_why = browser.decide(env, source)
    except browser.BrowserError as exc:
        raise DecisionError(str(exc)) from None
    helm, helm_why = helm_major(env)
    choice = RunChoice(source, why, images, chosen, reason, browser_kind, browser_why,
                       used.address if used else None, tuple(notes), helm, helm_why)  # fmt: skip
    note(f"decided once for this run: {choice.describe()}")
    return choice


_current: RunChoice | None = None


def current_browser(environ: dict[str, str] | None = None) -> str:
    """The run's browser: from the run's choice, else TODO_BROWSER, else decided now."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CHOICE):
        return RunChoice.from_json(env[ENV_CHOICE]).browser
    if env.get(browser.ENV_BROWSER, "").strip():
        return browser.decide(dict(env), "")[0]
    return current(env).browser


def current(environ: dict[str, str] | None = None, **kwargs) -> RunChoice:
    """The run's choice: handed down in TODO_RUN_CHOICE, else decided once per process."""
    global _current
    env = os.environ if environ is None else environ
    if env.get(ENV_CHOICE):
        return RunChoice.from_json(env[ENV_CHOICE])
    if _current is None:
        _current = decide(dict(env), **kwargs)
    return _current
