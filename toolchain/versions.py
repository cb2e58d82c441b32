"""Every pinned version and image name of the project, in one place.

Everything else (noxfile, harness, airgap, the workflow matrix) imports from
here. `toolchain/tests/test_versions.py` checks these pins against kind's own
module (its default node image, the local-path release it packages).
"""

from __future__ import annotations

# --- kind and Kubernetes -------------------------------------------------------------
# kind v0.30.0's default node is Kubernetes v1.34.0. Kubernetes <= 1.34 still runs its
# kubelet on cgroup v1 by default; from 1.35 the kubelet refuses cgroup v1 hosts.
KIND_MODULE = "sigs.k8s.io/kind"
KIND_VERSION = "v0.30.0"
KUBERNETES_VERSION = "v1.34.0"
# kind v0.30.0 pkg/apis/config/defaults/image.go (checked by the tests).
KIND_NODE_UPSTREAM = (
    "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"
)
# Built here by airgap.node (same Kubernetes version as the upstream default).
KIND_NODE_LOCAL = f"todo-airgap/kind-node:{KUBERNETES_VERSION}"

# Kubernetes minors the GitHub workflow tests with upstream images (internet available).
# The node images kind v0.30.0's release notes list for these minors; only the default
# (v1.34.0) carries a digest here because only it is readable from the kind module
# itself. Every entry is <= 1.34, so all of them still run on cgroup-v1 hosts.
KUBERNETES_MATRIX = {
    "v1.34": KIND_NODE_UPSTREAM,
    "v1.33": "kindest/node:v1.33.4",
    "v1.32": "kindest/node:v1.32.8",
}

# --- tools (built with `go install`, kept in <cache>/bin) -----------------------------
HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.19.5"
# The Kubernetes minor of the client-go helm v3.19.5 is built with (its go.mod: v0.34.x).
HELM_KUBERNETES_MINOR = "34"
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
# Kubernetes 1.34 and helm 3.19 need Go 1.24; the sessions run on CPython 3.11.
GO_MINIMUM = (1, 24)

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

# kind's default storage (images/local-path-provisioner/Makefile in the kind module says
# which upstream release kind packages; the image *names* are read from the kind module).
LOCAL_PATH_PROVISIONER_MODULE = "github.com/rancher/local-path-provisioner"
LOCAL_PATH_PROVISIONER_VERSION = "v0.0.30"

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
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
