"""The container images kind and the suites need, built here without a registry.

Only the offline path uses this package (no container registry answers): the
Debian base, the Python base and PostgreSQL images, metrics-server,
kube-router, kind's CNI and storage images and the kind node image itself,
from Debian packages and Go modules. `python -m airgap` builds them; the host
and tool pieces both paths share live in `toolchain`.
"""
