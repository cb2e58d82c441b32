"""The one bring-up sequence: cluster -> images -> add-ons -> namespace -> release -> ready.

The run's images go onto a new kind cluster's nodes while the cluster finishes
coming up (nodes Ready, CoreDNS), and the add-ons' manifests are applied before
the release is installed and waited for after it, so they come up while the
release does.

`stand_up(settings, choice)` runs each step as a timed phase and returns the
`Environment` the promises run against; `tear_down(env)` undoes what this run
created (never more). The steps are also called one at a time by the CLI
(`python -m harness cluster|deploy|teardown`).

On a cluster the harness did not create (`--kubeconfig`), it creates and
deletes only its own namespaces, installs nothing cluster-wide unless asked
(`--install-addons`), reads first what the cluster offers (`Capabilities`)
and refuses a context whose name suggests production unless forced.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness import addons, delivery, kind, registry
from harness.images import cluster_images
from harness.kube import Kube, kubectl, wait_cluster_ready
from harness.portforward import port_forward
from harness.proc import HarnessError, run, say, wait_http
from harness.release import (
    NODE_PORT,
    Release,
    create_namespace,
    delete_namespace,
    namespace_exists,
)
from harness.settings import CHART_DIR, ROOT, Settings
from toolchain import versions as pins
from toolchain.decide import ImageSet, RunChoice
from toolchain.progress import step
from toolchain.tools import ToolError

PRODUCTION_LIKE = re.compile(r"(^|[^a-z])(prod|production|prd|live)([^a-z]|$)", re.IGNORECASE)


@dataclass
class Environment:
    """What one run stood up, and everything it created (so it deletes exactly that)."""

    settings: Settings
    choice: RunChoice
    cluster: kind.Cluster
    capabilities: addons.Capabilities = field(default_factory=addons.Capabilities)
    release: Release | None = None
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    pull_secret_in: list[str] = field(default_factory=list)  # namespaces given the pull secret
    kept_namespaces: list[str] = field(default_factory=list)  # there before the run
    kubelet_versions: list[str] = field(default_factory=list)  # as the nodes report them
    install_seconds: float = 0.0
    ready_seconds: float = 0.0
    stack: ExitStack = field(default_factory=ExitStack)
    delivery: delivery.Delivery | None = None  # how the images reached the nodes
    # The local registry from the moment it runs (the images may never get there).
    local_registry: registry.LocalRegistry | None = None

    @property
    def images(self) -> ImageSet:
        """The run's images as the nodes name them (a registry's copies, when pushed)."""
        return self.delivery.images if self.delivery else self.choice.images

    def new_namespace(self, name: str, *, pod_security: str = "restricted") -> str:
        """A namespace of the run's: created, recorded for teardown, given the run's image
        pull secret (--registry-config) so any pod the run starts there can pull. A
        namespace that was there before the run (a --namespace of the user's) is used as
        it is: not relabelled, given no credentials, and not deleted at teardown (the run
        removes only the release and Services it put there)."""
        kubeconfig = self.cluster.kubeconfig
        if namespace_exists(kubeconfig, name):
            say(f"namespace {name} was there before the run: used as it is (no labels, no pull "
                "secret added) and kept at teardown")  # fmt: skip
            self.kept_namespaces.append(name)
            return name
        create_namespace(kubeconfig, name, pod_security=pod_security)
        self.namespaces.append(name)
        self.created.append(f"namespace {name}")
        if self.settings.registry_config:
            delivery.pull_secret(kubeconfig, name, self.settings)
            self.pull_secret_in.append(name)
        return name

    def pull_secrets(self, namespace: str) -> list[str]:
        """The run's image pull secrets in `namespace` (for the release's pods)."""
        return [delivery.PULL_SECRET] if namespace in self.pull_secret_in else []


def run_id() -> str:
    return datetime.now(UTC).strftime("%m%d%H%M%S") + secrets.token_hex(2)


# --- steps -------------------------------------------------------------------------------


def current_context(kubeconfig: Path) -> str:
    got = kubectl(kubeconfig, "config", "current-context", capture=True, quiet=True, check=False)
    return got.stdout.strip()


def existing_kind_name(context: str) -> str | None:
    """The kind cluster behind a `kind-<name>` context, if its node container runs here."""
    if not context.startswith("kind-"):
        return None
    name = context[len("kind-") :]
    try:
        return name if kind.node_containers(name) else None
    except HarnessError:
        return None


def cluster_up(settings: Settings, choice: RunChoice) -> kind.Cluster:
    """The run's cluster: an existing one from its kubeconfig, or a kind cluster of ours
    (`images_into_cluster` waits for its nodes)."""
    if settings.kubeconfig:
        kubeconfig = Path(settings.kubeconfig).expanduser().resolve()
        if not kubeconfig.is_file():
            raise HarnessError(f"--kubeconfig {kubeconfig}: no such file")
        context = current_context(kubeconfig)
        if PRODUCTION_LIKE.search(context) and not settings.force_context:
            raise HarnessError(
                f"refusing the context {context!r}: its name suggests production. The run "
                "creates namespaces, releases and load there. Pass --force-context (or "
                "E2E_FORCE_CONTEXT=1) if this cluster is meant for tests."
            )
        kind_name = existing_kind_name(context)
        say(f"using the existing cluster of context {context!r} (the harness created nothing)")
        return kind.Cluster(kind_name or context, kubeconfig, is_kind=kind_name is not None)
    return kind.create(
        settings.cluster_name,
        choice.images.node,
        nodes=settings.nodes,
        host_port=settings.host_port,
        guard_egress=egress_guarded(settings, choice),
        reuse=settings.reuse_cluster,
        registry_hosts=settings.local_registry,
    )


def egress_guarded(settings: Settings, choice: RunChoice) -> bool:
    """Whether the kind cluster's network is kept on this host (harness.kind): whenever its
    nodes need nothing from beyond it (images loaded, or pulled from the local registry on
    kind's network), offline always, else where this process may set the firewall."""
    if settings.registry:  # the nodes pull from a registry that may be anywhere
        return False
    return choice.source == "local" or os.geteuid() == 0


def images_plan(settings: Settings, choice: RunChoice) -> str:
    """How this run's images will reach the nodes (harness.delivery), decided before any
    image is built or anything installed: a cluster that cannot get them is refused now."""
    is_kind = True
    if settings.kubeconfig:
        kubeconfig = Path(settings.kubeconfig).expanduser()
        if not kubeconfig.is_file():
            raise HarnessError(f"--kubeconfig {settings.kubeconfig}: no such file")
        is_kind = existing_kind_name(current_context(kubeconfig)) is not None
    return delivery.plan(settings, is_kind=is_kind, choice=choice, addons=set())


def images_into_cluster(env: Environment, wanted: set[str]) -> delivery.Delivery:
    """The run's images to every node the planned way (kind load, a registry, the local
    registry) while the cluster finishes coming up: nodes Ready, CoreDNS available.
    Loading needs only the nodes' containerd, not a ready control plane; done one after
    the other the two took about 20 s and 14 s on a 2-core machine."""
    cluster, choice, settings = env.cluster, env.choice, env.settings
    how = delivery.plan(settings, is_kind=cluster.is_kind, choice=choice, addons=wanted)
    local = None
    if how == delivery.LOCAL_REGISTRY:
        local = env.local_registry = registry.ensure_local_registry()
        if local.created:
            env.created.append(f"local registry {local.name} on {local.host_address}")
        kind.point_nodes_at_registry(cluster.name, local.pull_address, local.node_address)
    with ThreadPoolExecutor(max_workers=1) as pool:
        carrying = pool.submit(delivery.deliver, how, cluster_name=cluster.name, choice=choice,
                               settings=settings, images_for_nodes=cluster_images(choice),
                               addons=wanted, local=local)  # fmt: skip
        wait_cluster_ready(cluster.kubeconfig)
        env.delivery = carrying.result()
    return env.delivery


def kubelet_versions(kubeconfig: Path) -> list[str]:
    """The kubelet version of every node (what the cluster runs, not what was asked for)."""
    out = kubectl(kubeconfig, "get", "nodes", "-o",
                  "jsonpath={.items[*].status.nodeInfo.kubeletVersion}", capture=True,
                  quiet=True).stdout  # fmt: skip
    return sorted(set(out.split()))


def wanted_addons(cluster: kind.Cluster, choice: RunChoice, settings: Settings) -> set[str]:
    """metrics-server and the enforcer where the run owns the cluster (or is asked to)."""
    ours = cluster.created or (cluster.is_kind and not settings.kubeconfig)
    if not (ours or settings.install_addons):
        return set()
    wanted = set()
    if not addons.metrics_api_served(cluster.kubeconfig):
        wanted.add("metrics-server")
    if choice.enforcer == "kube-router":
        wanted.add("kube-router")
    return wanted


def apply_addons(cluster: kind.Cluster, images: ImageSet, wanted: set[str]) -> None:
    """Apply the add-ons' manifests; they come up while the release installs."""
    if "metrics-server" in wanted:
        addons.apply_metrics_server(cluster.kubeconfig, images.metrics_server)
    if "kube-router" in wanted:
        addons.apply_kube_router(cluster.kubeconfig, images.kube_router)


def finish_addons(
    cluster: kind.Cluster, choice: RunChoice, wanted: set[str], images: ImageSet
) -> addons.Capabilities:
    """Wait for the add-ons applied; then read what the cluster offers."""
    if "kube-router" in wanted:
        addons.finish_kube_router(cluster.kubeconfig)
    if "metrics-server" in wanted:
        addons.finish_metrics_server(
            cluster.kubeconfig,
            images.metrics_server,
            kind_cluster=cluster.name if cluster.is_kind else None,
        )
    caps = addons.probe_capabilities(cluster.kubeconfig, choice.enforcer)
    for need in ("metrics", "netpol", "pod-security", "storage"):
        reason = caps.missing(need)
        say(f"cluster offers {need}: {'yes' if reason is None else 'no, ' + reason}")
    return caps


def deploy(env: Environment, namespace: str) -> Release:
    """Namespace (PSS restricted) -> `helm upgrade --install --wait` -> backend /ready 200."""
    settings, cluster = env.settings, env.cluster
    env.new_namespace(namespace)
    release = Release(
        name=settings.release,
        namespace=namespace,
        kubeconfig=cluster.kubeconfig,
        images=env.images,
        values_files=settings.values_files(),
        backend_url=settings.backend_url,
        frontend_url=settings.frontend_url,
        pull_secrets=env.pull_secrets(namespace),
        helm_tool=env.choice.helm_tool(),
    )
    started = time.monotonic()
    release.install()
    env.install_seconds = time.monotonic() - started
    env.created.append(f"helm release {release.name} in {namespace}")
    release.expose_backend()
    release.expose_frontend()
    if settings.kubeconfig:  # no NodePort published here: reach the backend through a forward
        url = env.stack.enter_context(
            port_forward(
                cluster.kubeconfig, namespace, f"svc/{release.name}-e2e-access", 8000, follow=True
            )  # fmt: skip
        )
        release.backend_url = url
        release.frontend_url = env.stack.enter_context(
            port_forward(
                cluster.kubeconfig, namespace, f"svc/{release.name}-e2e-frontend", 8080, follow=True
            )  # fmt: skip
        )
    env.ready_seconds = wait_http(f"{release.backend_url}/ready", timeout=120)
    # Ready answers 200 while the MCP server is still out of reach ("degraded"): the run
    # starts once every backend pod reaches PostgreSQL and the MCP server (a new Service
    # can take a moment to be programmed on every node, and a NetworkPolicy to admit pods).
    Kube(cluster.kubeconfig, namespace, release.name).wait_every_pod_reaches(
        "backend", ("database", "mcp"), timeout=120
    )
    env.release = release
    return release


# --- the sequence --------------------------------------------------------------------------


def stand_up(settings: Settings, choice: RunChoice, *, namespace: str | None = None) -> Environment:
    """Cluster, images, add-ons, namespace, release, ready: each a timed phase."""
    with step("cluster up"):
        cluster = cluster_up(settings, choice)
    env = Environment(settings=settings, choice=choice, cluster=cluster)
    if cluster.created:
        env.created.append(f"kind cluster {cluster.name} ({settings.nodes} node(s))")
    try:
        wanted = wanted_addons(cluster, choice, settings)
        with step("images to the nodes, nodes ready"):
            images_into_cluster(env, wanted)
        env.kubelet_versions = kubelet_versions(cluster.kubeconfig)
        with step("cluster add-ons applied"):
            apply_addons(cluster, env.images, wanted)
        if settings.kubeconfig and wanted:
            env.created.append(f"{', '.join(sorted(wanted))} in kube-system, asked for (kept)")
        with step("install to ready"):
            deploy(env, namespace or settings.namespace or f"todo-e2e-{run_id()}")
        with step("cluster add-ons ready"):
            env.capabilities = finish_addons(cluster, choice, wanted, env.images)
    except BaseException:
        tear_down(env)
        raise
    return env


def tear_down(env: Environment) -> None:
    """Delete what this run created: its namespaces, and its kind cluster unless kept."""
    env.stack.close()
    settings, cluster = env.settings, env.cluster
    if cluster.created and not (settings.keep_cluster or settings.reuse_cluster):
        with step("cluster delete"):
            kind.delete(cluster.name)
        env.deleted.append(f"kind cluster {cluster.name} (with everything in it)")
        local = env.local_registry
        if local is not None and local.created:
            (ROOT / "reports").mkdir(exist_ok=True)
            (ROOT / "reports" / "local-registry.log").write_text(local.log())
            registry.remove_local_registry(local)
            storage = "and its storage" if local.volume_created else "(its storage kept)"
            env.deleted.append(f"local registry {local.name} {storage} (its log: "
                               "reports/local-registry.log)")  # fmt: skip
        return
    for namespace in env.namespaces:
        delete_namespace(cluster.kubeconfig, namespace)
        env.deleted.append(f"namespace {namespace}")
    release = env.release
    if release is not None and release.namespace in env.kept_namespaces:
        release.helm("uninstall", release.name, "--wait", capture=True, check=False)
        release.kubectl("delete", "service", "--ignore-not-found", f"{release.name}-e2e-access",
                        f"{release.name}-e2e-frontend", quiet=True, check=False)  # fmt: skip
        env.deleted.append(
            f"helm release {release.name} and the harness's Services in {release.namespace} "
            "(the namespace was there before: kept)"
        )
    if cluster.created:
        say(f"keeping kind cluster {cluster.name!r}: KUBECONFIG={cluster.kubeconfig}")


def commit() -> dict:
    """The checkout the run tested: its commit, and whether tracked files differ from it."""

    def git(*args: str) -> str:
        return run(["git", "-C", ROOT, *args], capture=True, quiet=True, timeout=30).stdout.strip()

    try:
        return {"sha": git("rev-parse", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}  # fmt: skip
    except (HarnessError, OSError, subprocess.SubprocessError) as exc:
        return {"sha": None, "error": f"git: {exc}"[:200]}


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions(env: Environment) -> dict:
    """What ran: Kubernetes (server and kubectl), the pinned tools, the chart, the Python
    packages that drive load and browser, and the app image's digest as the container
    runtime of each app pod reports it. A failed read is recorded, never raised."""
    import yaml

    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    out: dict = {
        "chart": f"{chart['name']} {chart['version']} (app {chart.get('appVersion')})",
        "kind": pins.KIND_VERSION,
        "helm": pins.HELM3_VERSION if env.choice and env.choice.helm == "3" else pins.HELM_VERSION,
        "python": platform.python_version(),
        "locust": _package_version("locust"),
        "playwright": _package_version("playwright"),
    }
    kubeconfig = env.cluster.kubeconfig
    try:
        asked = kubectl(kubeconfig, "version", "-o", "json", capture=True, quiet=True, check=False)
        got = json.loads(asked.stdout or "{}")
        out["kubectl"] = (got.get("clientVersion") or {}).get("gitVersion")
        out["kubernetes_server"] = (got.get("serverVersion") or {}).get("gitVersion")
        if out["kubernetes_server"] is None:
            raise HarnessError(asked.stderr.strip()[-200:] or "no server version")
        if env.release is not None:
            listed = kubectl(kubeconfig, "-n", env.release.namespace, "get", "pods", "-o", "json",
                             capture=True, quiet=True)  # fmt: skip
            pods = json.loads(listed.stdout)["items"]
            app = env.images.app  # as the pods name it: a registry's copy, when pushed
            out["app_image_ids"] = {
                f"{p['metadata']['name']}/{c['name']}": c.get("imageID")
                for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []
                if c.get("image") == app or c.get("image", "").endswith("/" + app)
            }  # fmt: skip
    except (HarnessError, ToolError, ValueError, KeyError, OSError) as exc:
        out["error"] = f"could not read the cluster's versions: {exc}"[:300]
    return out


def summary(env: Environment) -> dict:
    """The facts of the bring-up, for the report."""
    return {
        "cluster": {"name": env.cluster.name, "kind": env.cluster.is_kind,
                    "created_by_run": env.cluster.created, "nodes": env.settings.nodes,
                    "kubelet_versions": env.kubelet_versions,
                    "kubelet_on_cgroup_v1": env.cluster.kubelet_on_cgroup_v1},
        "choice": json.loads(env.choice.to_json()),
        "values": env.settings.describe_values(),
        "capabilities": {
            need: env.capabilities.missing(need) for need in ("metrics", "netpol", "pod-security",
                                                               "storage")
        },
        "install_seconds": round(env.install_seconds, 1),
        "ready_after_install_seconds": round(env.ready_seconds, 1),
        "created": env.created,
        "deleted": env.deleted,
        "node_port": NODE_PORT,
        "images": _delivery_facts(env),
        "versions": versions(env),
        "commit": commit(),
    }  # fmt: skip


def _delivery_facts(env: Environment) -> dict:
    """How the images reached the nodes, and under which names and digests."""
    if env.delivery is None:
        return {}
    facts = {"how": env.delivery.how, "registry": env.delivery.registry,
             "pushed": env.delivery.pushed}  # fmt: skip
    if env.delivery.local_registry is not None:  # who pulled what: nothing was side-loaded
        pulls = registry.pulls_in_log(env.delivery.local_registry.log())
        facts["pulled"] = sorted({f"{p['repository']}:{p['reference'][:19]} by {p['from']}"
                                  for p in pulls if p["method"] == "GET"})  # fmt: skip
    return facts
