"""Shared pytest options and the session's cluster, for every suite in the repo.

This file is loaded by every pytest run (the services' unit tests too), so it
imports only the standard library and pytest at module level. The cluster
fixture imports pytest-kind-ng (`pytest_kind.KindCluster`) and the harness
lazily, when an e2e test asks for it; the release, namespace and client
fixtures live in `e2e/conftest.py`.

Options (each also read from an environment variable so nox sessions and CI
can set them without touching posargs):

  --cluster-name NAME     kind cluster name (E2E_CLUSTER_NAME, default todo-e2e)
  --node-image IMAGE      kind node image (E2E_NODE_IMAGE; default: airgap's choice)
  --k8s-version vX.Y      pick the pinned node image of that minor (E2E_K8S_VERSION)
  --values FILE           extra Helm values file, repeatable (E2E_VALUES)
  --kubeconfig PATH       use an existing cluster; no kind at all (E2E_KUBECONFIG)
  --keep-cluster          do not delete the kind cluster afterwards (E2E_KEEP_CLUSTER=1)
  --reuse-cluster         reuse a running cluster of that name, and keep it (E2E_REUSE_CLUSTER=1)
  --backend-url URL       where the backend's NodePort answers (default http://127.0.0.1:30080)

pytest-kind-ng's own plugin defines --cluster-name, --keep-cluster and
--kubeconfig too; when it is loaded, its definitions are used (same meaning)
and ours are skipped.
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "")
    return value if value.strip() else default


def _env_flag(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _add(group, *names: str, **kwargs) -> None:
    # Already defined by the pytest-kind-ng plugin (same name, same meaning): keep that one.
    with contextlib.suppress(ValueError):
        group.addoption(*names, **kwargs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("e2e", "todo-app end-to-end (kind cluster, Helm release)")
    _add(
        group,
        "--cluster-name",
        default=_env("E2E_CLUSTER_NAME", "todo-e2e"),
        help="kind cluster name (default: todo-e2e)",
    )
    _add(
        group,
        "--keep-cluster",
        action="store_true",
        default=_env_flag("E2E_KEEP_CLUSTER"),
        help="keep the kind cluster after the run",
    )
    _add(
        group,
        "--kubeconfig",
        default=_env("E2E_KUBECONFIG"),
        help="run against the cluster of this kubeconfig instead of creating a kind cluster",
    )
    _add(
        group,
        "--reuse-cluster",
        action="store_true",
        default=_env_flag("E2E_REUSE_CLUSTER"),
        help="reuse a running kind cluster of the same name (implies --keep-cluster)",
    )
    _add(
        group,
        "--node-image",
        default=_env("E2E_NODE_IMAGE"),
        help="kind node image (default: upstream kindest/node with a registry, else local)",
    )
    _add(
        group,
        "--k8s-version",
        default=_env("E2E_K8S_VERSION"),
        help="Kubernetes minor (e.g. v1.33) whose pinned node image to use",
    )
    _add(
        group,
        "--values",
        action="append",
        default=None,
        help="extra Helm values file for the release (repeatable; env E2E_VALUES)",
    )
    _add(
        group,
        "--backend-url",
        default=_env("E2E_BACKEND_URL", "http://127.0.0.1:30080"),
        help="URL of the backend's NodePort as seen from this machine",
    )


def _cluster_name(config: pytest.Config) -> str:
    name = config.getoption("cluster_name")
    # pytest-kind-ng's default name means "not chosen": use ours.
    return _env("E2E_CLUSTER_NAME", "todo-e2e") if name in (None, "pytest-kind") else name


@pytest.fixture(scope="session")
def images(request: pytest.FixtureRequest):
    """The image set of this run (airgap.images decides upstream vs local)."""
    from e2e import harness

    return harness.choose_images(
        request.config.getoption("node_image") or request.config.getoption("kind_image", None),
        request.config.getoption("k8s_version"),
    )


@pytest.fixture(scope="session")
def k8s_cluster(request: pytest.FixtureRequest, images):
    """The cluster: a kind cluster from our kind binary and node image, or --kubeconfig's.

    Yields an object with `.kubeconfig_path` and `.name` (a pytest_kind.KindCluster
    for kind). KUBECONFIG is exported for the session. Deleted at teardown
    unless --keep-cluster/--reuse-cluster, or when the cluster was not ours.
    """
    from e2e import harness

    config = request.config
    existing = config.getoption("kubeconfig") or _env("E2E_KUBECONFIG")
    old_env = os.environ.get("KUBECONFIG")
    if existing:
        cluster = _ExistingCluster(existing)
        harness.say(f"using the existing cluster of {existing} (no kind cluster created)")
        with harness.phase("cluster up"):
            harness.wait_cluster_ready(cluster.kubeconfig_path)
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path)
        yield cluster
    else:
        name = _cluster_name(config)
        reuse = config.getoption("reuse_cluster")
        keep = reuse or config.getoption("keep_cluster") or _env_flag("E2E_KEEP_CLUSTER")
        with harness.phase("cluster up"):
            cluster = harness.cluster_up(name, images.node, reuse=reuse)
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path)
        try:
            yield cluster
        finally:
            if keep:
                harness.say(f"keeping kind cluster {name!r}: KUBECONFIG={cluster.kubeconfig_path}")
            else:
                start = time.monotonic()
                cluster.delete()
                harness.record_phase("cluster delete", time.monotonic() - start)
    if old_env is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = old_env


class _ExistingCluster:
    """A cluster we did not create: only its kubeconfig; never loaded into or deleted."""

    is_kind = False

    def __init__(self, kubeconfig: str) -> None:
        from pathlib import Path

        self.name = "existing"
        self.kubeconfig_path = Path(kubeconfig).expanduser().resolve()
