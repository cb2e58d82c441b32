"""How the run's images reach the cluster's nodes: loaded, pushed, or pulled from a registry.

- A kind cluster (made here, or the `kind-<name>` context of a running kind
  cluster): `kind load`, the nodes see the local names.
- A kind cluster made here with `--local-registry`: pushed to the local
  registry on kind's network, named `localhost:<port>/<name>`; the pods pull,
  nothing is side-loaded.
- Any cluster with `--registry REG`: pushed to REG, the app image tagged by
  its content (`--push-all`: the offline builds too), named `REG/<name>`.
- Any other cluster without `--registry`: refused before anything is
  installed, naming the image it cannot get and the option that fixes it.

`plan()` decides from the settings and the cluster alone (seconds, nothing
changed); `deliver()` carries the images and returns the image names as the
release must use them. With `--registry-config FILE` the pushes use that
Docker config's credentials, and `pull_secret()` turns it into an image pull
secret in each namespace the run creates (never elsewhere).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import registry
from harness.kube import kubectl
from harness.proc import HarnessError, say
from harness.settings import Settings
from toolchain.decide import ImageSet, RunChoice

LOAD, LOCAL_REGISTRY, REGISTRY = "kind load", "local registry", "registry"
PULL_SECRET = "todo-harness-pull"  # noqa: S105 - a Secret's name


@dataclass
class Delivery:
    """What the run did with its images, and their names as the nodes pull them."""

    how: str
    images: ImageSet
    registry: str | None = None
    pushed: dict[str, str] = field(default_factory=dict)  # local name -> ref@digest
    local_registry: registry.LocalRegistry | None = None


def built_here(choice: RunChoice, addons: set[str]) -> list[str]:
    """The images no registry has: the app's, and offline every other the nodes run."""
    images = choice.images
    names = [images.app]
    if choice.source == "local":
        names.append(images.postgres)
        names += [images.metrics_server] if "metrics-server" in addons else []
        names += [images.kube_router] if "kube-router" in addons else []
    return names


def plan(settings: Settings, *, is_kind: bool, choice: RunChoice, addons: set[str]) -> str:
    """LOAD, LOCAL_REGISTRY or REGISTRY; refuses, naming the image, when nothing would give
    the nodes an image built here."""
    if settings.local_registry and settings.registry:
        raise HarnessError("--local-registry and --registry exclude each other: pick one")
    if settings.local_registry:
        if not is_kind or settings.kubeconfig:
            raise HarnessError(
                "--local-registry configures the nodes of a kind cluster the run creates; for "
                "a cluster you made, push to a registry its nodes reach: --registry REG"
            )
        return LOCAL_REGISTRY
    if settings.registry:
        unpushed = built_here(choice, addons)[1:] if not settings.push_all else []
        if unpushed:
            raise HarnessError(
                f"{', '.join(unpushed)} {'was' if len(unpushed) == 1 else 'were'} built here "
                f"(offline images) and no registry has them: add --push-all to push them to "
                f"{settings.registry} too"
            )
        return REGISTRY
    if is_kind:
        return LOAD
    missing = built_here(choice, addons)
    were = "it was" if len(missing) == 1 else "they were"
    raise HarnessError(
        f"this cluster cannot get {', '.join(missing)}: {were} built on this machine, the "
        "cluster is not a kind cluster the run can load images into, "
        "and no registry was named. Pass --registry REG (E2E_REGISTRY), a registry this machine "
        "can push to and the cluster's nodes can pull from"
        + (" (and --push-all for the offline images)" if len(missing) > 1 else "")
    )


def _repository_and_tag(image: str) -> tuple[str, str]:
    """An image's repository path without its registry host, and its tag ("latest" if none)."""
    name = image.split("@", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest
    slash, colon = name.rfind("/"), name.rfind(":")
    return (name[:colon], name[colon + 1 :]) if colon > slash else (name, "latest")


def deliver(
    how: str,
    *,
    cluster_name: str,
    choice: RunChoice,
    settings: Settings,
    images_for_nodes: list[str],
    addons: set[str],
    local: registry.LocalRegistry | None = None,
) -> Delivery:
    """Carry `images_for_nodes` to the nodes the planned way (to a registry: the images built
    here, of `addons` those the run installs); the names the release uses."""
    images = choice.images
    if how == LOAD:
        from harness import kind

        kind.load(cluster_name, images_for_nodes)
        return Delivery(LOAD, images)
    config = None
    if how == LOCAL_REGISTRY:
        assert local is not None
        # Pushed to its published port; named as kind's nodes resolve it (their hosts.toml).
        push_to, pull_from, wanted = local.host_address, local.pull_address, images_for_nodes
    else:
        assert settings.registry
        push_to = pull_from = settings.registry.rstrip("/")
        wanted = built_here(choice, addons)
        if settings.registry_config:
            config = Path(settings.registry_config).expanduser()
    renamed: dict[str, str] = {}
    pushed: dict[str, str] = {}
    for image in wanted:
        path, tag = _repository_and_tag(image)
        if image == images.app:
            tag = registry.content_tag(image)
        digest = registry.push(image, f"{push_to}/{path}:{tag}", docker_config=config)
        renamed[image] = f"{pull_from}/{path}:{tag}"
        pushed[image] = f"{pull_from}/{path}@{digest}"
    say(f"images for the nodes ({how}): " + ", ".join(f"{k} -> {v}" for k, v in renamed.items()))
    postgres = renamed.get(images.postgres, images.postgres)
    nodes_see = replace(
        images,
        app=renamed[images.app],
        postgres_repository=postgres.rsplit(":", 1)[0],
        metrics_server=renamed.get(images.metrics_server, images.metrics_server),
        kube_router=renamed.get(images.kube_router, images.kube_router),
    )
    return Delivery(how, nodes_see, pull_from, pushed, local)


def pull_secret(kubeconfig: Path, namespace: str, docker_config: Path) -> None:
    """An image pull secret (named PULL_SECRET) from a Docker config file, in `namespace`,
    also made the default ServiceAccount's, so every pod the run starts there can pull."""
    data = docker_config.read_bytes()
    try:
        json.loads(data)
    except ValueError:
        raise HarnessError(f"--registry-config {docker_config}: not a JSON Docker config file") \
            from None  # fmt: skip
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
              "metadata": {"name": PULL_SECRET, "namespace": namespace},
              "data": {".dockerconfigjson": base64.b64encode(data).decode()}}  # fmt: skip
    kubectl(kubeconfig, "apply", "-f", "-", input_text=json.dumps(secret), quiet=True)
    patch = json.dumps({"imagePullSecrets": [{"name": PULL_SECRET}]})
    from harness.proc import wait_until

    wait_until(lambda: kubectl(kubeconfig, "-n", namespace, "patch", "serviceaccount", "default",
                               "-p", patch, check=False, quiet=True,
                               capture=True).returncode == 0,
               timeout=30, what=f"the default ServiceAccount of {namespace}")  # fmt: skip
