"""The kind node image `todo-airgap/kind-node:<k8s version>`, built without a registry.

`kind build node-image` pulls its base image and every non-Kubernetes image
from registries, so this package reproduces what it does from sources:

- gomod:       builds Go commands from the module proxy through generated wrapper
               modules (Kubernetes and etcd replace their siblings with local paths).
- components:  what to build and at which version, derived from airgap.versions,
               kind's base Dockerfile pins and the built kubeadm's image list.
- base:        kind's "base" image (systemd, containerd, runc, crictl, CNI plugins,
               kind's own files from the kind module).
- images:      kube-apiserver/controller-manager/scheduler/proxy, etcd, coredns, pause
               under the exact names kubeadm and kind's containerd config use.
- build:       assembly like kind's nodeimage builder; `ensure_node_image()`,
               `kubernetes_binaries()`.
- verify:      `python -m airgap.node verify [--runs N]`: create a cluster, check it.

Every step is cached (stamps for Go builds, content-key labels for images).
"""
