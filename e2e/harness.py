"""The e2e harness's steps, shared by the nox sessions and the pytest fixtures.

Each step is a plain function (build the image, bring the kind cluster up,
load images, install metrics-server, deploy the release, tear down) so that
`nox -s e2e` runs them all through the fixtures in `conftest.py`, while
`nox -s image|cluster|deploy|teardown` run one at a time through
`python -m e2e.harness <step>`.

Only the standard library is imported at module level: the root conftest is
loaded by every pytest run, and the nox sessions call this module before any
Kubernetes client is installed. Tools come from `<cache>/bin` (built by
`python -m airgap tools`), never from PATH by surprise, never downloaded.
"""

# ruff: noqa: S603 - runs the pinned tools from <cache>/bin and Locust, never user input

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
E2E_DIR = ROOT / "e2e"
CHART_DIR = ROOT / "chart" / "todo-app"
KIND_CONFIG = E2E_DIR / "kind-config.yaml"
VALUES_E2E = E2E_DIR / "values-e2e.yaml"
METRICS_SERVER_MANIFEST = E2E_DIR / "manifests" / "metrics-server.yaml"
REPORTS_DIR = ROOT / "reports"
ARTIFACTS_DIR = ROOT / "artifacts"
# Phase timings of one run; another entry point reusing `phase()` (e.g. perf) can point
# E2E_PHASES_FILE elsewhere so concurrent runs do not mix their tables.
PHASES_FILE = Path(os.environ.get("E2E_PHASES_FILE") or REPORTS_DIR / "e2e-phases.json")

CLUSTER_NAME = "todo-e2e"
RELEASE = "todo"
APP_IMAGE = "todo-app:dev"
NODE_PORT = 30080
BACKEND_URL = f"http://127.0.0.1:{NODE_PORT}"
CREATED_BY = ("app.kubernetes.io/created-by", "todo-e2e")

# Environment variables the nox sessions and the pytest options both read.
ENV_NODE_IMAGE = "E2E_NODE_IMAGE"
ENV_K8S_VERSION = "E2E_K8S_VERSION"
ENV_VALUES = "E2E_VALUES"
ENV_KUBECONFIG = "E2E_KUBECONFIG"
ENV_KEEP = "E2E_KEEP_CLUSTER"
ENV_REUSE = "E2E_REUSE_CLUSTER"
ENV_CLUSTER_NAME = "E2E_CLUSTER_NAME"


class HarnessError(RuntimeError):
    """A step cannot run; the message says what to do."""


# --- output and timing -----------------------------------------------------------------


def say(message: str) -> None:
    print(f"[e2e] {message}", file=sys.stderr, flush=True)


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Print start/end of a phase and record its wall time in reports/e2e-phases.json."""
    say(f"--> {name}")
    start = time.monotonic()
    status = "failed"
    try:
        yield
        status = "ok"
    finally:
        seconds = time.monotonic() - start
        say(f"<-- {name}: {status} in {seconds:.1f} s")
        record_phase(name, seconds, status)


def record_phase(name: str, seconds: float, status: str = "ok") -> None:
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    phases = read_phases()
    phases = [p for p in phases if p["name"] != name]
    phases.append({"name": name, "seconds": round(seconds, 1), "status": status})
    PHASES_FILE.write_text(json.dumps(phases, indent=2) + "\n")


def read_phases() -> list[dict]:
    try:
        return json.loads(PHASES_FILE.read_text())
    except (OSError, ValueError):
        return []


def reset_phases() -> None:
    PHASES_FILE.unlink(missing_ok=True)


def run(
    argv: Sequence[str | os.PathLike],
    *,
    check: bool = True,
    capture: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    input_text: str | None = None,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; raise HarnessError with its output when it fails."""
    args = [str(a) for a in argv]
    if not quiet:
        say("$ " + " ".join(shlex.quote(Path(a).name if i == 0 else a) for i, a in enumerate(args)))
    result = subprocess.run(
        args,
        check=False,
        text=True,
        capture_output=capture,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        input=input_text,
        stdin=subprocess.DEVNULL if input_text is None else None,
    )
    if check and result.returncode != 0:
        detail = ""
        if capture:
            detail = "\n" + ((result.stdout or "") + (result.stderr or ""))[-4000:]
        raise HarnessError(f"{Path(args[0]).name} exited with {result.returncode}{detail}")
    return result


# --- tools and images ----------------------------------------------------------------


def cache_dir() -> Path:
    root = Path(os.environ.get("TODO_CACHE_DIR") or Path.home() / ".cache" / "todo-app")
    return root.expanduser().resolve()


def tool(name: str) -> Path:
    """Absolute path of a pinned tool in <cache>/bin; a clear error if it is missing."""
    path = cache_dir() / "bin" / name
    if not path.exists():
        raise HarnessError(
            f"{path} is missing: run `python -m airgap tools` (or `nox -s airgap`) to build "
            "the pinned kind/helm/kubectl into the cache"
        )
    return path


@dataclass(frozen=True)
class ImageSet:
    """The images one run uses (upstream names with a registry, local names without)."""

    source: str  # upstream | local
    node: str
    python_base: str
    postgres_repository: str
    postgres_tag: str
    metrics_server: str
    app: str = APP_IMAGE

    @property
    def postgres(self) -> str:
        return f"{self.postgres_repository}:{self.postgres_tag}"


def image_source() -> str:
    """`upstream` or `local`: TODO_IMAGE_SOURCE, else airgap.images' registry probe."""
    from airgap import images

    try:
        return images.image_source()
    except images.ImageSourceError as exc:
        raise HarnessError(str(exc)) from exc


def choose_images(node_image: str | None = None, k8s_version: str | None = None) -> ImageSet:
    """The image set for this run (airgap.images' names); a node image or version wins."""
    from airgap import images
    from airgap import versions as v

    source = image_source()
    names = images.image_names(source)
    node = names.kind_node
    if k8s_version:
        key = k8s_version if k8s_version.startswith("v") else f"v{k8s_version}"
        minor = ".".join(key.split(".")[:2])
        if minor not in v.KUBERNETES_MATRIX:
            raise HarnessError(
                f"no node image pinned for Kubernetes {k8s_version}; "
                f"choose one of {', '.join(v.KUBERNETES_MATRIX)} or pass --node-image"
            )
        if source == "local" and minor != ".".join(v.KUBERNETES_VERSION.split(".")[:2]):
            raise HarnessError(
                f"offline, only the locally built node image ({v.KIND_NODE_LOCAL}) exists; "
                f"Kubernetes {k8s_version} needs a registry (or pass --node-image)"
            )
        if source == "upstream":
            node = v.KUBERNETES_MATRIX[minor]
    if node_image:
        node = node_image
    return ImageSet(
        source=source,
        node=node,
        python_base=names.python_base,
        postgres_repository=names.postgres_repository,
        postgres_tag=names.postgres_tag,
        metrics_server=names.metrics_server,
    )


def docker_image_exists(name: str) -> bool:
    docker = shutil.which("docker") or "docker"
    result = subprocess.run(
        [docker, "image", "inspect", name], capture_output=True, text=True, check=False
    )
    return result.returncode == 0


def ensure_pulled(name: str) -> None:
    """Make a registry image available to `kind load` (upstream source only)."""
    if not docker_image_exists(name):
        run(["docker", "pull", name])


def extra_ca_certs() -> str:
    """PEM text of CAs added to this host (a TLS-inspecting proxy's), for pip in the build.

    TODO_EXTRA_CA_CERTS names a PEM file; otherwise the certificates installed
    under /usr/local/share/ca-certificates (Debian's place for local CAs).
    """
    named = os.environ.get("TODO_EXTRA_CA_CERTS", "").strip()
    if named:
        files = [Path(named)]
    else:
        files = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    return "\n".join(f.read_text().strip() for f in files if f.is_file())


def build_app_image(images: ImageSet) -> None:
    """docker build the application image `todo-app:dev` from services/."""
    if images.source == "upstream":
        ensure_pulled(images.python_base)
    elif not docker_image_exists(images.python_base):
        raise HarnessError(
            f"base image {images.python_base} is missing: run `python -m airgap images` first"
        )
    argv = ["docker", "build", "--build-arg", f"BASE_IMAGE={images.python_base}"]
    cas = extra_ca_certs()
    if cas:
        argv += ["--build-arg", f"EXTRA_CA_CERTS={cas}"]
    argv += ["-t", images.app, str(ROOT / "services")]
    say(
        f"$ docker build --build-arg BASE_IMAGE={images.python_base}"
        + (
            f" --build-arg EXTRA_CA_CERTS=<{cas.count('BEGIN CERTIFICATE')} local CA(s)>"
            if cas
            else ""
        )
        + f" -t {images.app} services"
    )
    run(argv, quiet=True)


# --- cluster ---------------------------------------------------------------------------


def kubeconfig_for(cluster_name: str) -> Path:
    """Where the kind cluster's kubeconfig lives (pytest-kind's own layout)."""
    return ROOT / ".pytest-kind" / cluster_name / "kubeconfig"


def kind_cluster_names() -> list[str]:
    out = run([tool("kind"), "get", "clusters"], capture=True, quiet=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def new_kind_cluster(name: str, node_image: str):
    """A pytest-kind KindCluster that uses our kind/kubectl binaries (never its download)."""
    from pytest_kind import KindCluster

    return KindCluster(
        name,
        kubeconfig=kubeconfig_for(name),
        image=node_image,
        kind_path=tool("kind"),
        kubectl_path=tool("kubectl"),
    )


def cluster_up(name: str, node_image: str, *, reuse: bool):
    """Create the kind cluster (or reuse it when asked); wait until it can run pods."""
    existing = name in kind_cluster_names()
    if existing and not reuse:
        say(f"a kind cluster {name!r} is left over from an earlier run: deleting it")
        run([tool("kind"), "delete", "cluster", "--name", name])
        existing = False
    cluster = new_kind_cluster(name, node_image)
    if existing:
        say(f"reusing kind cluster {name!r}")
        run(
            [
                tool("kind"),
                "export",
                "kubeconfig",
                "--name",
                name,
                "--kubeconfig",
                cluster.kubeconfig_path,
            ],
            quiet=True,
        )
    else:
        say(f"creating kind cluster {name!r} from {node_image}")
        if image_source() == "local":
            from airgap.network_guard import guard_kind_network

            guard_kind_network()  # air-gapped: nothing in the cluster may leave this host
    cluster.create(config_file=KIND_CONFIG)
    kubeconfig = cluster.kubeconfig_path
    wait_cluster_ready(kubeconfig)
    return cluster


def kubectl(kubeconfig: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return run([tool("kubectl"), "--kubeconfig", kubeconfig, *args], **kwargs)


def wait_cluster_ready(kubeconfig: Path, timeout: float = 240) -> None:
    """Wait for what pods need: Ready nodes, CoreDNS, and the default ServiceAccount."""
    deadline = time.monotonic() + timeout
    while True:
        sa = kubectl(
            kubeconfig,
            "get",
            "serviceaccount",
            "default",
            "-n",
            "default",
            check=False,
            capture=True,
            quiet=True,
        )
        if sa.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise HarnessError(f"default ServiceAccount never appeared: {sa.stderr.strip()}")
        time.sleep(1)
    left = max(10, int(deadline - time.monotonic()))
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={left}s")
    left = max(10, int(deadline - time.monotonic()))
    kubectl(
        kubeconfig,
        "-n",
        "kube-system",
        "rollout",
        "status",
        "deployment/coredns",
        f"--timeout={left}s",
    )


def load_images(cluster, images: Sequence[str], source: str) -> None:
    """`kind load docker-image` each image (pulling upstream ones into Docker first)."""
    for image in images:
        if source == "upstream":
            ensure_pulled(image)
        elif not docker_image_exists(image):
            raise HarnessError(f"image {image} is not in Docker: run `python -m airgap images`")
        say(f"kind load docker-image {image}")
        cluster.load_docker_image(image)


def render(manifest: Path, **substitutions: str) -> str:
    text = manifest.read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise HarnessError(f"{manifest.name}: unsubstituted placeholder left")
    return text


def _node_metrics_served(kubeconfig: Path) -> tuple[bool, str]:
    got = kubectl(
        kubeconfig,
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/nodes",
        check=False,
        capture=True,
        quiet=True,
    )
    ok = got.returncode == 0 and bool(json.loads(got.stdout or "{}").get("items"))
    return ok, (got.stderr or got.stdout)[-300:]


def _wait_node_metrics(kubeconfig: Path, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = _node_metrics_served(kubeconfig)
        if ok or time.monotonic() > deadline:
            return ok, detail
        time.sleep(3)


def restart_apiserver(kubeconfig: Path, node_container: str) -> None:
    """Stop the kube-apiserver container of a kind node; kubelet starts it again."""
    run(
        [
            "docker",
            "exec",
            node_container,
            "sh",
            "-c",
            "crictl stop $(crictl ps -q --name kube-apiserver)",
        ],
        capture=True,
    )
    deadline = time.monotonic() + 120
    time.sleep(3)
    while (
        kubectl(
            kubeconfig, "get", "--raw", "/readyz", check=False, capture=True, quiet=True
        ).returncode
        != 0
    ):
        if time.monotonic() > deadline:
            raise HarnessError("kube-apiserver did not come back within 120 s")
        time.sleep(2)


def install_metrics_server(
    kubeconfig: Path, image: str, timeout: int = 180, node_container: str | None = None
) -> None:
    """Apply our metrics-server manifest; wait until metrics.k8s.io serves node figures.

    Seen on these machines (Kubernetes 1.34, 2 busy cores): the APIService turns
    Available, metrics-server answers the aggregator's own probe, yet every
    request through the aggregator stays 404 ("failed to download
    v1beta1.metrics.k8s.io: resource not found") until kube-apiserver restarts.
    On a kind cluster the harness then restarts kube-apiserver once, saying so.
    """
    kubectl(
        kubeconfig,
        "apply",
        "-f",
        "-",
        input_text=render(METRICS_SERVER_MANIFEST, METRICS_SERVER_IMAGE=image),
    )
    kubectl(
        kubeconfig,
        "-n",
        "kube-system",
        "rollout",
        "status",
        "deployment/metrics-server",
        f"--timeout={timeout}s",
    )
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Available",
        "apiservice/v1beta1.metrics.k8s.io",
        f"--timeout={timeout}s",
    )
    ok, detail = _wait_node_metrics(kubeconfig, 40 if node_container else timeout)
    if not ok and node_container:
        say(
            f"metrics.k8s.io still answers {detail.strip()!r} through the aggregator: "
            "restarting kube-apiserver once (known aggregator stall)"
        )
        restart_apiserver(kubeconfig, node_container)
        ok, detail = _wait_node_metrics(kubeconfig, timeout)
    if not ok:
        raise HarnessError(f"metrics-server never reported node metrics: {detail}")
    say("metrics.k8s.io serves node metrics")


def ensure_netpol_enforcer(cluster, kubeconfig: Path, source: str) -> tuple[str, str]:
    """Make NetworkPolicy enforced (kube-router where kindnet cannot); (enforcer, reason)."""
    from e2e import netpol

    enforcer, reason = netpol.setup_netpol_enforcer(
        str(tool("kubectl")),
        kubeconfig,
        image_source=source,
        load_image=lambda image: load_images(cluster, [image], source),
    )
    say(f"NetworkPolicy enforcer: {enforcer} ({reason})")
    return enforcer, reason


def cluster_delete(name: str) -> None:
    if name in kind_cluster_names():
        run([tool("kind"), "delete", "cluster", "--name", name])
    else:
        say(f"no kind cluster named {name!r}")


# --- release ---------------------------------------------------------------------------


def create_namespace(kubeconfig: Path, name: str) -> None:
    """A fresh namespace labelled as ours, with Pod Security "restricted" enforced."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                CREATED_BY[0]: CREATED_BY[1],
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
            },
        },
    }
    kubectl(kubeconfig, "apply", "-f", "-", input_text=json.dumps(manifest))


def delete_namespace(kubeconfig: Path, name: str) -> None:
    """Delete without waiting (finalizers finish in the background)."""
    kubectl(
        kubeconfig, "delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False
    )


def values_args(images: ImageSet, values_files: Sequence[Path | str] = ()) -> list[str]:
    """Helm value arguments: values-e2e.yaml, the user's files, then what the tests need.

    The user's file (e.g. values-production.yaml) overrides the e2e sizing; the
    `--set`s after it keep test access (NodePort 30080), the HPA with a short
    scale-down window, and this run's image names, whatever the file says.
    """
    args: list[str] = ["-f", str(VALUES_E2E)]
    for path in values_files:
        args += ["-f", str(path)]
    repo, _, tag = images.app.rpartition(":")
    for setting in (
        "backend.service.type=NodePort",
        f"backend.service.nodePort={NODE_PORT}",
        "mcpServer.autoscaling.enabled=true",
        "mcpServer.autoscaling.behavior.scaleDown.stabilizationWindowSeconds=20",
        f"image.repository={repo}",
        f"image.tag={tag}",
        f"postgresql.image.repository={images.postgres_repository}",
        f"postgresql.image.tag={images.postgres_tag}",
    ):
        args += ["--set", setting]
    return args


def helm(kubeconfig: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return run([tool("helm"), "--kubeconfig", str(kubeconfig), *args], **kwargs)


def helm_deploy(
    kubeconfig: Path,
    namespace: str,
    images: ImageSet,
    values_files: Sequence[Path | str] = (),
    extra: Sequence[str] = (),
    timeout: str = "5m",
) -> None:
    """`helm upgrade --install --wait` the release into the namespace."""
    helm(
        kubeconfig,
        "upgrade",
        "--install",
        RELEASE,
        str(CHART_DIR),
        "--namespace",
        namespace,
        *values_args(images, values_files),
        *extra,
        "--wait",
        "--timeout",
        timeout,
    )


def wait_http(url: str, timeout: float = 120, expect: int = 200) -> float:
    """Poll a URL until it answers `expect`; return the seconds it took."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (loopback)
                if response.status == expect:
                    return time.monotonic() - start
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code == expect:
                return time.monotonic() - start
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(1)
    raise HarnessError(f"{url} did not answer {expect} within {timeout:.0f} s (last: {last})")


# --- command line (the small nox sessions) --------------------------------------------


@dataclass
class Settings:
    cluster_name: str
    node_image: str | None
    k8s_version: str | None
    values: list[str]
    kubeconfig: str | None
    namespace: str


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        cluster_name=args.cluster_name,
        node_image=args.node_image,
        k8s_version=args.k8s_version,
        values=[v for v in (args.values or []) if v],
        kubeconfig=args.kubeconfig,
        namespace=args.namespace,
    )


def _cli_kubeconfig(s: Settings) -> Path:
    if s.kubeconfig:
        return Path(s.kubeconfig)
    path = kubeconfig_for(s.cluster_name)
    if not path.exists():
        raise HarnessError(f"no kubeconfig at {path}: run `nox -s cluster` first")
    return path


def cmd_images(s: Settings) -> None:
    print(json.dumps(asdict(choose_images(s.node_image, s.k8s_version)), indent=2))


def cmd_image(s: Settings) -> None:
    with phase("image build"):
        build_app_image(choose_images(s.node_image, s.k8s_version))


def cmd_cluster(s: Settings) -> None:
    images = choose_images(s.node_image, s.k8s_version)
    with phase("cluster up"):
        cluster = cluster_up(s.cluster_name, images.node, reuse=True)
    with phase("image load"):
        load_images(cluster, [images.app, images.postgres, images.metrics_server], images.source)
    with phase("cluster add-ons"):
        install_metrics_server(
            cluster.kubeconfig_path,
            images.metrics_server,
            node_container=f"{s.cluster_name}-control-plane",
        )
        ensure_netpol_enforcer(cluster, cluster.kubeconfig_path, images.source)
    say(f"cluster {s.cluster_name!r} is up: export KUBECONFIG={cluster.kubeconfig_path}")


def cmd_deploy(s: Settings) -> None:
    images = choose_images(s.node_image, s.k8s_version)
    kubeconfig = _cli_kubeconfig(s)
    if not s.kubeconfig:
        cluster = new_kind_cluster(s.cluster_name, images.node)
        with phase("image load"):
            load_images(cluster, [images.app], images.source)
    with phase("deploy"):
        create_namespace(kubeconfig, s.namespace)
        helm_deploy(kubeconfig, s.namespace, images, s.values)
    if not s.kubeconfig:
        waited = wait_http(f"{BACKEND_URL}/ready")
        say(f"backend ready at {BACKEND_URL} ({waited:.1f} s after install)")
    say(f"release {RELEASE!r} in namespace {s.namespace!r}")


def cmd_teardown(s: Settings) -> None:
    with phase("teardown"):
        cluster_delete(s.cluster_name)


def cmd_matrix(_: Settings) -> None:
    """The workflow's matrix as JSON: Kubernetes minor -> upstream node image."""
    from airgap import versions as v

    include = [
        {"kubernetes": minor, "node_image": image, "values": values}
        for minor, image in v.KUBERNETES_MATRIX.items()
        for values in ("default", "production")
    ]
    print(json.dumps({"include": include}))


COMMANDS = {
    "images": cmd_images,
    "image": cmd_image,
    "cluster": cmd_cluster,
    "deploy": cmd_deploy,
    "teardown": cmd_teardown,
    "matrix": cmd_matrix,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.harness", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--cluster-name", default=os.environ.get(ENV_CLUSTER_NAME, CLUSTER_NAME))
    parser.add_argument("--node-image", default=os.environ.get(ENV_NODE_IMAGE) or None)
    parser.add_argument("--k8s-version", default=os.environ.get(ENV_K8S_VERSION) or None)
    parser.add_argument(
        "--values",
        action="append",
        default=[os.environ[ENV_VALUES]] if os.environ.get(ENV_VALUES) else [],
    )
    parser.add_argument("--kubeconfig", default=os.environ.get(ENV_KUBECONFIG) or None)
    parser.add_argument("--namespace", default="todo-dev")
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](_settings(args))
    except HarnessError as exc:
        say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
