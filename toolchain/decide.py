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
- Browser of the browser tests: Debian's Chromium offline, Playwright's own
  build with internet (`toolchain.browser`; `TODO_BROWSER` overrides).

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
from dataclasses import asdict, dataclass
from pathlib import Path

from toolchain import browser, versions
from toolchain.progress import note

SOURCES = ("upstream", "local")
ENV_SOURCE = "TODO_IMAGE_SOURCE"
ENV_ENFORCER = "TODO_NETPOL_ENFORCER"
ENV_CHOICE = "TODO_RUN_CHOICE"
ENFORCERS = ("kindnet", "kube-router", "cluster")  # "cluster": an existing cluster's own
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

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunChoice:
        data = json.loads(text)
        return cls(**{**data, "images": ImageSet(**data["images"])})

    def env(self) -> dict[str, str]:
        """The environment that hands this choice to child processes."""
        return {ENV_CHOICE: self.to_json()}

    def describe(self) -> str:
        return (
            f"image source {self.source} ({self.source_reason}); node {self.images.node}; "
            f"NetworkPolicy enforcer {self.enforcer} ({self.enforcer_reason}); "
            f"browser {self.browser} ({self.browser_reason})"
        )


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


def image_source(environ: dict[str, str], probe=registry_reachable) -> tuple[str, str]:
    """("upstream" | "local", why): TODO_IMAGE_SOURCE if set, else the registry probe."""
    override = environ.get(ENV_SOURCE, "").strip().lower()
    if override:
        if override not in SOURCES:
            raise DecisionError(
                f"{ENV_SOURCE}={environ[ENV_SOURCE]!r} is not valid: use 'upstream' (pull "
                "public images) or 'local' (build them here without a registry)"
            )
        return override, f"{ENV_SOURCE}={override}"
    reachable = probe()
    note(f"registry probe: {REGISTRY_PROBE_URL} {'answers' if reachable else 'is unreachable'}")
    if reachable:
        return "upstream", "a container registry answers"
    return "local", "no container registry answers: building every image here"


def image_set(
    source: str, node_image: str | None = None, k8s_version: str | None = None
) -> ImageSet:
    """The images of `source`; a Kubernetes minor or an explicit node image picks the node."""
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
    return ImageSet(
        source=source,
        node=node_image or node,
        python_base=versions.PYTHON_LOCAL if local else versions.PYTHON_UPSTREAM,
        postgres_repository=(
            versions.POSTGRES_LOCAL_REPOSITORY if local else versions.POSTGRES_UPSTREAM_REPOSITORY
        ),
        postgres_tag=versions.POSTGRES_TAG,
        metrics_server=versions.METRICS_SERVER_LOCAL if local else versions.METRICS_SERVER_UPSTREAM,
        kube_router=versions.KUBE_ROUTER_LOCAL if local else versions.KUBE_ROUTER_UPSTREAM,
    )


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
    probe=registry_reachable,
) -> RunChoice:
    """Make every decision of a run (one registry probe at most)."""
    env = dict(os.environ if environ is None else environ)
    source, why = image_source(env, probe)
    images = image_set(source, node_image, k8s_version)
    if existing_cluster:
        chosen, reason = "cluster", "existing cluster: its own network plugin decides"
    else:
        chosen, reason = enforcer(env, source)
    try:
        browser_kind, browser_why = browser.decide(env, source)
    except browser.BrowserError as exc:
        raise DecisionError(str(exc)) from None
    choice = RunChoice(source, why, images, chosen, reason, browser_kind, browser_why)
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
