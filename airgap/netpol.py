"""NetworkPolicy enforcement on kind: probe the kernel, build the fallback enforcer.

kind's default CNI (kindnet, with kube-network-policies) enforces
NetworkPolicy through nftables rules that hand packets to user space with
`queue num 100 bypass`. That needs the kernel's nft queue expression
(CONFIG_NFT_QUEUE). Where it is missing, the rule set never loads and every
policy is silently ignored. There the e2e suite installs kube-router in
firewall-only mode instead: it enforces policies with plain iptables filter
rules and ipsets, which such kernels do have.

- `needs_fallback_enforcer(image_source)` answers "install kube-router?". With
  local images always yes: the air-gapped kindnetd (airgap/images/kindnetd)
  implements no NetworkPolicy. With upstream images (the real kindnetd) it
  tries, in a throwaway network namespace, to load an nftables rule set with a
  queue rule (falls back to /proc/config.gz when it cannot try). The variable
  TODO_NETPOL_ENFORCER=auto|kindnet|kube-router overrides all of it.
- `kube_router_image(source)` names the image to deploy: the upstream image
  for users with a registry, else `ensure_kube_router_image()` builds
  `todo-airgap/kube-router:<ver>` from the Go module onto the shared Debian
  minbase image (cached by an image label).

`python -m airgap.netpol probe [upstream|local]` / `build` run them from a shell.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from airgap import cache
from airgap.progress import mark_cached, note, step

# Pinned kube-router release: the Go module proxy serves v2.1.0 of the v2 module,
# and the upstream image of the same tag exists, so both paths run one version.
KUBE_ROUTER_VERSION = "v2.1.0"
KUBE_ROUTER_MODULE = "github.com/cloudnativelabs/kube-router/v2"
UPSTREAM_KUBE_ROUTER_IMAGE = f"docker.io/cloudnativelabs/kube-router:{KUBE_ROUTER_VERSION}"
LOCAL_KUBE_ROUTER_IMAGE = f"todo-airgap/kube-router:{KUBE_ROUTER_VERSION}"

ENV_ENFORCER = "TODO_NETPOL_ENFORCER"
ENFORCER_CHOICES = ("auto", "kindnet", "kube-router")
RECIPE_DIR = Path(__file__).parent / "kube-router"
IMAGE_LABEL = "org.todo-app.airgap"

# The same rule set twice: once as a control (a counter, which any nftables
# kernel loads), once with the queue statement kube-network-policies uses.
# The control separates "nft cannot run here" from "no queue support".
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


class NetpolError(RuntimeError):
    """The enforcer cannot be chosen or built; the message says what to do."""


def enforcer_override(environ: dict[str, str] | None = None) -> str:
    """The TODO_NETPOL_ENFORCER setting: auto (default), kindnet or kube-router."""
    env = os.environ if environ is None else environ
    value = (env.get(ENV_ENFORCER) or "auto").strip().lower()
    if value not in ENFORCER_CHOICES:
        raise NetpolError(
            f"{ENV_ENFORCER}={env.get(ENV_ENFORCER)!r} is not valid; "
            f"use one of: {', '.join(ENFORCER_CHOICES)}"
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


def _is_debian_root() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return "debian" in text.lower()


def _nft_binary(install: bool) -> str | None:
    found = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if found or not install or not _is_debian_root():
        return found
    note("HOST CHANGE: apt-get install -y nftables (for the nft queue probe)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "nftables"],  # noqa: S607
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        note(f"apt-get install nftables failed: {result.stderr.strip()[-300:]}")
        return None
    return shutil.which("nft") or "/usr/sbin/nft"


def _load_in_new_netns(nft: str, ruleset: str) -> subprocess.CompletedProcess[str]:
    """`nft -f -` inside a fresh network namespace (gone when the command exits)."""
    unshare = shutil.which("unshare") or "unshare"
    prefix = [unshare, "--net"]
    if os.geteuid() != 0:  # an unprivileged user namespace can still make a netns
        prefix = [unshare, "--user", "--map-root-user", "--net"]
    return subprocess.run(  # noqa: S603
        [*prefix, nft, "-f", "-"],
        input=ruleset,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def probe_nft_queue(install: bool = True) -> tuple[bool | None, str]:
    """Try to load a `queue num 100 bypass` rule: (True|False|None if untried, how we know).

    `install`: as root on Debian, apt-get install nftables when `nft` is missing.
    """
    if platform.system() != "Linux":
        return None, f"host is {platform.system()}, not Linux: cannot inspect the engine's kernel"
    nft = _nft_binary(install)
    if nft is None:
        return None, "nft is not installed (install Debian's nftables to probe)"
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
    override: str,
    queue_supported: bool | None,
    config_queue: bool | None,
    image_source: str | None = None,
) -> tuple[str, str]:
    """Pure decision: (enforcer, reason) from the override and what the probes found."""
    if override in ("kindnet", "kube-router"):
        return override, f"{ENV_ENFORCER}={override}"
    if image_source == "local":
        return "kube-router", "local images: the air-gapped kindnetd implements no NetworkPolicy"
    if queue_supported is True:
        return "kindnet", "kernel has nft queue: kindnet enforces NetworkPolicy itself"
    if queue_supported is False:
        return "kube-router", "kernel lacks nft queue: kindnet cannot enforce NetworkPolicy"
    if config_queue is True:
        return "kindnet", "/proc/config.gz has CONFIG_NFT_QUEUE: kindnet enforces NetworkPolicy"
    if config_queue is False:
        return "kube-router", "/proc/config.gz: CONFIG_NFT_QUEUE is not set"
    # Unknown either way: enforce with kube-router; it works next to a working
    # kindnet too (both implement the same policies), so this only costs a pod.
    return "kube-router", "cannot tell whether the kernel has nft queue: using kube-router"


def choose_enforcer(
    environ: dict[str, str] | None = None, image_source: str | None = None
) -> tuple[str, str]:
    """("kindnet" | "kube-router", reason), probing the kernel unless that is moot.

    `image_source` ("upstream" | "local", as chosen by airgap.images) says which
    kindnetd the cluster runs; None means "the real one" (upstream's).
    """
    override = enforcer_override(environ)
    if override != "auto" or image_source == "local":
        return decide_enforcer(override, None, None, image_source)
    supported, how = probe_nft_queue()
    note(f"nft queue probe: {how}")
    config = kernel_config_nft_queue() if supported is None else None
    return decide_enforcer(override, supported, config, image_source)


def needs_fallback_enforcer(image_source: str | None = None) -> bool:
    """True when kindnet cannot enforce NetworkPolicy here and kube-router must."""
    enforcer, reason = choose_enforcer(image_source=image_source)
    note(f"NetworkPolicy enforcer: {enforcer} ({reason})")
    return enforcer == "kube-router"


# --- image -----------------------------------------------------------------


def recipe_digest() -> str:
    """Hash of everything that goes into the local image (version + recipe files)."""
    digest = hashlib.sha256(KUBE_ROUTER_VERSION.encode())
    for path in sorted(RECIPE_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def recipe_label() -> str:
    return f"kube-router-{KUBE_ROUTER_VERSION}-{recipe_digest()}"


def go_build_command(gobin: Path) -> tuple[list[str], dict[str, str]]:
    """The `go install` argv and environment for a static kube-router binary."""
    ldflags = (
        f"-s -w -X {KUBE_ROUTER_MODULE}/pkg/version.Version={KUBE_ROUTER_VERSION}"
        f" -X {KUBE_ROUTER_MODULE}/pkg/version.BuildDate=todo-airgap"
    )
    argv = [
        "go",
        "install",
        "-trimpath",
        "-ldflags",
        ldflags,
        f"{KUBE_ROUTER_MODULE}/cmd/kube-router@{KUBE_ROUTER_VERSION}",
    ]
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOBIN": str(gobin),
    }
    return argv, env


def build_binary() -> Path:
    """kube-router built from the Go module, cached under <cache>/build/kube-router/<ver>."""
    out_dir = cache.sub_dir("build", "kube-router", KUBE_ROUTER_VERSION)
    binary = out_dir / "kube-router"
    with step(f"go build kube-router {KUBE_ROUTER_VERSION}"):
        if binary.exists():
            mark_cached(str(binary))
            return binary
        if not shutil.which("go"):
            raise NetpolError("Go is not installed; it is needed to build kube-router offline")
        argv, env = go_build_command(out_dir)
        note(" ".join(argv))
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0 and "sum.golang.org" in result.stderr and "GOSUMDB" not in env:
            note("checksum database unreachable through the proxy: retrying with GOSUMDB=off")
            env["GOSUMDB"] = "off"
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise NetpolError(f"go install kube-router failed:\n{result.stderr[-3000:]}")
        if not binary.exists():
            raise NetpolError(f"go install succeeded but {binary} is missing")
        return binary


def ensure_kube_router_image() -> str:
    """Build (once) `todo-airgap/kube-router:<ver>`; return its name."""
    from airgap.docker_engine import ensure_debian_base, image_label

    label = recipe_label()
    with step(f"kube-router image {LOCAL_KUBE_ROUTER_IMAGE}"):
        if image_label(LOCAL_KUBE_ROUTER_IMAGE, IMAGE_LABEL) == label:
            mark_cached(f"label {label}")
            return LOCAL_KUBE_ROUTER_IMAGE
        base = ensure_debian_base()
        binary = build_binary()
        with tempfile.TemporaryDirectory(dir=cache.sub_dir("tmp")) as tmp:
            context = Path(tmp)
            for path in RECIPE_DIR.iterdir():
                shutil.copy2(path, context / path.name)
            shutil.copy2(binary, context / "kube-router")
            note(f"docker build -> {LOCAL_KUBE_ROUTER_IMAGE} (FROM {base})")
            subprocess.run(  # noqa: S603
                [  # noqa: S607
                    "docker",
                    "build",
                    "--build-arg",
                    f"BASE_IMAGE={base}",
                    "--build-arg",
                    f"RECIPE={label}",
                    "-t",
                    LOCAL_KUBE_ROUTER_IMAGE,
                    str(context),
                ],
                check=True,
                stdout=subprocess.DEVNULL if not _verbose() else None,
            )
        if image_label(LOCAL_KUBE_ROUTER_IMAGE, IMAGE_LABEL) != label:
            raise NetpolError(f"{LOCAL_KUBE_ROUTER_IMAGE} was built but does not carry {label}")
        return LOCAL_KUBE_ROUTER_IMAGE


def _verbose() -> bool:
    return os.environ.get("TODO_VERBOSE", "") not in ("", "0")


def kube_router_image(source: str) -> str:
    """The image to deploy: `upstream` -> the registry's image, `local` -> build it here."""
    if source == "upstream":
        return UPSTREAM_KUBE_ROUTER_IMAGE
    if source == "local":
        return ensure_kube_router_image()
    raise NetpolError(f"image source must be 'upstream' or 'local', not {source!r}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "probe"
    try:
        if command == "probe":
            source = args[1] if len(args) > 1 else None
            enforcer, reason = choose_enforcer(image_source=source)
            print(f"{enforcer}\t{reason}")
            return 0
        if command == "build":
            print(ensure_kube_router_image())
            return 0
    except NetpolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m airgap.netpol [probe [upstream|local] | build]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
