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
release must use them. With `--registry-config FILE` the pushes use the
credentials of that Docker config's `auths` entry for `--registry` (nothing
else of the file), and `pull_secret()` turns that entry into an image pull
secret in each namespace the run creates (never elsewhere).
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import registry
from harness.kube import kubectl
from harness.proc import HarnessError, say
from harness.settings import Settings
from toolchain.decide import ImageSet, RunChoice

LOAD, LOCAL_REGISTRY, REGISTRY = "kind load", "local registry", "registry"
PULL_SECRET = "todo-harness-pull"  # noqa: S105 - a Secret's name
DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io"}


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


def _host_of(address: str) -> str:
    """The host[:port] of a registry address or of a Docker config's `auths` key (which may
    carry a scheme and a path: https://index.docker.io/v1/); Docker Hub's names as one."""
    host = re.sub(r"^[a-z]+://", "", address.strip().lower()).split("/", 1)[0]
    return "docker.io" if host in DOCKER_HUB else host


def _has_credentials(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    return bool(entry.get("auth") or entry.get("identitytoken") or entry.get("registrytoken")
                or (entry.get("username") and entry.get("password")))  # fmt: skip


def registry_auths(settings: Settings) -> dict:
    """From --registry-config, only --registry's entry of `auths`: {"auths": {key: entry}}.
    Refuses, in one line, a file that is missing, is no JSON, or holds no credentials for
    that registry under `auths` (a credential store keeps them outside the file)."""
    assert settings.registry and settings.registry_config
    path = Path(settings.registry_config).expanduser()
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"--registry-config {path}: no such file") from None
    except OSError as exc:
        raise HarnessError(f"--registry-config {path}: cannot be read ({exc.strerror})") from None
    except ValueError:
        raise HarnessError(f"--registry-config {path}: not a JSON Docker config file") from None
    host = _host_of(settings.registry)
    auths = config.get("auths") if isinstance(config, dict) else None
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        if _host_of(key) == host and _has_credentials(entry):
            return {"auths": {key: entry}}
    kept = [k for k in ("credsStore", "credHelpers") if isinstance(config, dict) and k in config]
    raise HarnessError(
        f'--registry-config {path} holds no credentials for {host} under "auths"'
        + (
            f" (its {' and '.join(kept)} keep{'s' * (len(kept) == 1)} them outside the file)"
            if kept
            else ""
        )  # fmt: skip
        + ": the run pushes, and its pods pull, with that entry alone"
    )


def plan(settings: Settings, *, is_kind: bool, choice: RunChoice, addons: set[str]) -> str:
    """LOAD, LOCAL_REGISTRY or REGISTRY; refuses, naming the image, when nothing would give
    the nodes an image built here, and refuses credentials it could not use."""
    if settings.local_registry and settings.registry:
        raise HarnessError("--local-registry and --registry exclude each other: pick one")
    if settings.registry_config and not settings.registry:
        raise HarnessError(
            "--registry-config gives the credentials of --registry: name that registry too "
            "(--registry REG)"
        )
    if settings.local_registry:
        if not is_kind or settings.kubeconfig:
            raise HarnessError(
                "--local-registry configures the nodes of a kind cluster the run creates; for "
                "a cluster you made, push to a registry its nodes reach: --registry REG"
            )
        return LOCAL_REGISTRY
    if settings.registry:
        if settings.registry_config:
            registry_auths(settings)
            # Offline, the add-ons' images are built here too, so they would be pulled from
            # the registry into kube-system, where the run puts no pull secret.
            if choice.source == "local" and (addons or not settings.cluster_keeps_its_addons):
                raise HarnessError(
                    f"the add-ons' offline images would be pulled from {settings.registry} in "
                    "kube-system, which gets no pull secret: use a registry the nodes pull "
                    "from without --registry-config, or a cluster that keeps its own add-ons "
                    "(--kubeconfig without --install-addons)"
                )
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
    auths = None
    if how == LOCAL_REGISTRY:
        assert local is not None
        # Pushed to its published port; named as kind's nodes resolve it (their hosts.toml).
        push_to, pull_from, wanted = local.host_address, local.pull_address, images_for_nodes
    else:
        assert settings.registry
        push_to = pull_from = settings.registry.rstrip("/")
        wanted = built_here(choice, addons)
        if settings.registry_config:
            auths = registry_auths(settings)
    renamed: dict[str, str] = {}
    pushed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="todo-registry-auth-") as folder:
        config = None
        if auths is not None:  # the registry's entry alone, readable by this user only
            config = Path(folder) / "config.json"
            config.write_text(json.dumps(auths))
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


def pull_secret(kubeconfig: Path, namespace: str, settings: Settings) -> None:
    """An image pull secret (named PULL_SECRET) holding --registry's credentials alone, in
    `namespace`, also made the default ServiceAccount's, so every pod the run starts there
    can pull. Created, not applied: `kubectl apply` would keep a second copy of the
    credentials in the object's last-applied-configuration annotation."""
    data = json.dumps(registry_auths(settings)).encode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
              "metadata": {"name": PULL_SECRET, "namespace": namespace},
              "data": {".dockerconfigjson": base64.b64encode(data).decode()}}  # fmt: skip
    kubectl(kubeconfig, "create", "-f", "-", input_text=json.dumps(secret), quiet=True,
            capture=True)  # fmt: skip
    patch = json.dumps({"imagePullSecrets": [{"name": PULL_SECRET}]})
    from harness.proc import wait_until

    wait_until(lambda: kubectl(kubeconfig, "-n", namespace, "patch", "serviceaccount", "default",
                               "-p", patch, check=False, quiet=True,
                               capture=True).returncode == 0,
               timeout=30, what=f"the default ServiceAccount of {namespace}")  # fmt: skip
