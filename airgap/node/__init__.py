"""The kind node image `todo-airgap/kind-node:<k8s version>`, built without a registry.

`kind build node-image` pulls its base image and every non-Kubernetes image
from registries, so this package reproduces what it does from sources:

- components:  what to build and at which version, derived from toolchain.versions,
               kind's base Dockerfile pins and the built kubeadm's image list.
- base:        kind's "base" image (systemd, containerd, runc, crictl, CNI plugins,
               kind's own files from the kind module).
- images:      kube-apiserver/controller-manager/scheduler/proxy, etcd, coredns, pause
               under the exact names kubeadm and kind's containerd config use.
- build:       assembly like kind's nodeimage builder: `ensure_node_image()`.

Go builds go through toolchain.go (stamped), images through toolchain.docker
(recipe labels), so every step is cached.
"""
