"""Every pinned version and image name of the project, in one place.

Everything else (noxfile, harness, airgap, the workflow matrix) imports from
here. `toolchain/tests/test_versions.py` checks these pins against kind's own
module (its default node image, the local-path release it packages).
"""

from __future__ import annotations

# --- kind and Kubernetes -------------------------------------------------------------
# The supported Kubernetes minors (December 2026: 1.35, 1.36, 1.37; 1.34 and older are past
# their upstream end of life), each with the node image kind v0.33.0's release notes list
# for it, pinned by digest. The first is the newest: kind's own default node, the minor
# the offline path builds and runs (KUBERNETES_VERSION), and the default of every run.
KIND_MODULE = "sigs.k8s.io/kind"
KIND_VERSION = "v0.33.0"


def _node(tag: str, sha256: str) -> str:
    return f"kindest/node:{tag}@sha256:{sha256}"


KUBERNETES_SUPPORTED = {
    "v1.37": _node("v1.37.0", "a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"),
    "v1.36": _node("v1.36.4", "099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"),
    "v1.35": _node("v1.35.8", "07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"),
}
# Past upstream end of life but still run by some providers under extended support: the
# workflow keeps one leg on it (kind values only), and the chart is validated against it.
KUBERNETES_EXTENDED = {
    "v1.34": _node("v1.34.11", "44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"),
}
# Every node image a run can pick by Kubernetes minor (`--k8s-version`).
KUBERNETES_MATRIX = {**KUBERNETES_SUPPORTED, **KUBERNETES_EXTENDED}

# kind v0.33.0's default node (pkg/apis/config/defaults/image.go, checked by the tests).
KIND_NODE_UPSTREAM = KUBERNETES_SUPPORTED["v1.37"]
KUBERNETES_VERSION = KIND_NODE_UPSTREAM.split(":", 1)[1].split("@", 1)[0]
# Built here by airgap.node (same Kubernetes version as the upstream default). From 1.35
# the kubelet refuses cgroup v1 hosts unless told otherwise: harness/kind.py tells it so
# where the host is v1 (this project's machines are), see the README.
KIND_NODE_LOCAL = f"todo-airgap/kind-node:{KUBERNETES_VERSION}"


def kubernetes_version_of(node_image: str) -> str:
    """The Kubernetes version a kind node image carries in its tag (`v1.36.4`), or the
    default's for a tag that is not one (an image built under another name)."""
    tag = node_image.rsplit("/", 1)[-1].partition(":")[2].split("@", 1)[0]
    parts = tag.lstrip("v").split(".")
    if tag.startswith("v") and len(parts) == 3 and all(p.isdigit() for p in parts):
        return tag
    return KUBERNETES_VERSION


# --- tools (built with `go install`, kept in <cache>/bin) -----------------------------
# Helm 4 is what users install today; Helm 3 (its last feature release, 3.22, in September
# 2026; security fixes only until February 2027) is still proven by one leg of the matrix
# (TODO_HELM=3) and by the Helm 3 -> Helm 4 step of the upgrade promise.
HELM_MODULE = "helm.sh/helm/v4"
HELM_VERSION = "v4.3.2"
HELM3_MODULE = "helm.sh/helm/v3"
HELM3_VERSION = "v3.22.0"
# The Kubernetes minor of the client-go helm v3.22.0 is built with (its go.mod: v0.37.x);
# Helm 4 reads its own from the build (debug.BuildInfo), so it needs no stamp.
HELM3_KUBERNETES_MINOR = "37"
# The Helm major a run deploys with unless TODO_HELM says otherwise.
HELM_MAJORS = ("4", "3")
HELM_DEFAULT_MAJOR = "4"
# The CNCF Distribution registry: the local registry (kind's pull path, the stand-in mirror,
# the registry tests) runs this binary, as a process or in an image built from it on both
# paths, so every run uses the same registry.
DISTRIBUTION_MODULE = "github.com/distribution/distribution/v3"
DISTRIBUTION_VERSION = "v3.1.2"
# go-containerregistry's crane: puts the run's images into a registry and reads digests.
CRANE_MODULE = "github.com/google/go-containerregistry"
CRANE_VERSION = "v0.22.1"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"
KUBERNETES_MODULE = "k8s.io/kubernetes"  # kubectl comes from here at KUBERNETES_VERSION

# --- what the host must bring (see toolchain/host.py) ------------------------------------
# Kubernetes 1.37 and Helm 4.3 need Go 1.26 (their go.mod); the sessions run on CPython 3.11.
GO_MINIMUM = (1, 26)

# --- images the e2e suite runs ----------------------------------------------------------
DEBIAN_SUITE = "bookworm"
# debootstrap --variant=minbase, imported; base of every locally built Debian image.
DEBIAN_BASE_IMAGE = "todo-airgap/debian:bookworm-minbase"

PYTHON_VERSION = "3.11"
PYTHON_UPSTREAM = "python:3.11-slim-bookworm"
PYTHON_LOCAL = "todo-airgap/python:3.11-slim-bookworm"

# Debian bookworm ships PostgreSQL 15, so the upstream image is pinned to 15 as well.
POSTGRES_MAJOR = "15"
POSTGRES_UPSTREAM_REPOSITORY = "postgres"
POSTGRES_LOCAL_REPOSITORY = "todo-airgap/postgres"
POSTGRES_TAG = "15-bookworm"

METRICS_SERVER_MODULE = "sigs.k8s.io/metrics-server"
METRICS_SERVER_VERSION = "v0.8.0"
METRICS_SERVER_UPSTREAM = f"registry.k8s.io/metrics-server/metrics-server:{METRICS_SERVER_VERSION}"
METRICS_SERVER_LOCAL = f"todo-airgap/metrics-server:{METRICS_SERVER_VERSION}"

# kind's default storage. kind's module names the release it packages (its
# images/local-path-provisioner/Makefile) and the image names; the pin is that release or,
# where the Go module proxy refuses it (v0.0.34 for kind v0.33.0: 403), the one before it.
LOCAL_PATH_PROVISIONER_MODULE = "github.com/rancher/local-path-provisioner"
LOCAL_PATH_PROVISIONER_VERSION = "v0.0.33"

# NetworkPolicy enforcer where kindnet cannot enforce (see harness/addons.py): the Go
# module proxy serves v2.1.0 of the v2 module and the upstream image of the same tag
# exists, so both paths run one version.
KUBE_ROUTER_MODULE = "github.com/cloudnativelabs/kube-router/v2"
KUBE_ROUTER_VERSION = "v2.1.0"
KUBE_ROUTER_UPSTREAM = f"docker.io/cloudnativelabs/kube-router:{KUBE_ROUTER_VERSION}"
KUBE_ROUTER_LOCAL = f"todo-airgap/kube-router:{KUBE_ROUTER_VERSION}"

# The application image every run builds from services/.
APP_IMAGE = "todo-app:dev"

# The local registry's image: FROM scratch, the registry binary built above.
REGISTRY_IMAGE = f"todo-registry:{DISTRIBUTION_VERSION}"

# Image recipes need no revision number: every local image is labelled with a hash of its
# recipe folder, these pins and its base image, and rebuilt when that hash changes.

# --- the browser promise's accessibility scan ------------------------------------------------
# axe-core from the npm registry; the integrity is the registry's own `dist.integrity` (SHA-512
# of the tarball), checked before the script is used (toolchain/axe.py).
AXE_CORE_VERSION = "4.14.1"
AXE_CORE_INTEGRITY = (
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09"
    "a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
