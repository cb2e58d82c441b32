"""The Helm release: the one place helm's arguments are built, and its namespace.

`Release.helm_args()` layers, in order: the run's values files (none when
the chart is deployed as shipped), then the harness's own settings, which are
only what the run needs whatever the values say: this run's image names and
a short HPA scale-down window (so the HPA promise sees the way back down in
seconds, not minutes). Nothing else of the values is overridden.

The same arguments work under Helm 4 (the default) and Helm 3 (`helm_tool`,
from the run's choice): `--wait` is Helm 4's status watcher there and Helm 3's
polling wait here, and Helm 4 applies server-side on install (an upgrade keeps
the apply mode of the release it upgrades).

The backend is reached through a NodePort Service the harness adds next to
the release (`<release>-e2e-access`, NodePort 30080), so the chart's own
Services stay as the values make them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.kube import PullWatch, kubectl
from harness.proc import HarnessError, run, say
from harness.settings import CHART_DIR
from toolchain.decide import ImageSet
from toolchain.tools import tool

NODE_PORT = 30080
FRONTEND_NODE_PORT = 30088
CREATED_BY = ("app.kubernetes.io/created-by", "todo-harness")
SCALE_DOWN_WINDOW = "mcpServer.autoscaling.behavior.scaleDown.stabilizationWindowSeconds=10"


@dataclass
class Release:
    """An installed (or to be installed) release: where it is and how it is made."""

    name: str
    namespace: str
    kubeconfig: Path
    images: ImageSet
    values_files: list[Path] = field(default_factory=list)
    backend_url: str = f"http://127.0.0.1:{NODE_PORT}"
    pull_secrets: list[str] = field(default_factory=list)  # in the release's namespace
    frontend_url: str = f"http://127.0.0.1:{FRONTEND_NODE_PORT}"
    helm_tool: str = "helm"  # the run's Helm major: "helm" (Helm 4) or "helm3"

    @property
    def fullname(self) -> str:
        return self.name if "todo-app" in self.name else f"{self.name}-todo-app"

    def harness_sets(self) -> list[str]:
        app_repo, _, app_tag = self.images.app.rpartition(":")
        return [
            f"image.repository={app_repo}",
            f"image.tag={app_tag}",
            f"postgresql.image.repository={self.images.postgres_repository}",
            f"postgresql.image.tag={self.images.postgres_tag}",
            SCALE_DOWN_WINDOW,
            *(f"imagePullSecrets[{i}].name={name}" for i, name in enumerate(self.pull_secrets)),
        ]

    def helm_args(self, extra_values: Sequence[Path] = (), sets: Sequence[str] = ()) -> list[str]:
        """`-f` for each values file, then the harness's `--set`s, then the caller's."""
        args: list[str] = []
        for path in [*self.values_files, *extra_values]:
            args += ["-f", str(path)]
        for setting in [*self.harness_sets(), *sets]:
            args += ["--set", setting]
        return args

    def helm(self, *args: str, **kwargs):
        """helm against this release's cluster and namespace (see harness.proc.run)."""
        return run([tool(self.helm_tool), "--kubeconfig", str(self.kubeconfig), *args,
                    "--namespace", self.namespace], **kwargs)  # fmt: skip

    def kubectl(self, *args: str, **kwargs):
        return kubectl(self.kubeconfig, "-n", self.namespace, *args, **kwargs)

    def install(self, *, chart: Path = CHART_DIR, sets: Sequence[str] = (), timeout: str = "5m",
                extra_values: Sequence[Path] = ()):  # fmt: skip
        """`helm upgrade --install --wait` of `chart` with this release's values; stopped
        early, naming the image and the pull error, when a pod cannot pull its image."""
        watch = PullWatch(self.kubeconfig, self.namespace)
        return self.helm("upgrade", "--install", self.name, str(chart),
                         *self.helm_args(extra_values, sets), "--wait", "--timeout", timeout,
                         capture=True, watch=watch)  # fmt: skip

    def upgrade(
        self,
        *,
        chart: Path = CHART_DIR,
        sets: Sequence[str] = (),
        timeout: str = "5m",
        extra_values: Sequence[Path] = (),
        check: bool = True,
        wait: bool = True,
        take_over_fields: bool = False,
    ):
        """`helm upgrade` (waiting unless told not to) with this release's values plus `sets`.

        `take_over_fields`: the upgrade sets a field another manager owns now (pinning
        replicas an HPA scaled: `.spec.replicas` belongs to the controller manager). Helm 4
        applies server-side and refuses such a conflict unless told `--force-conflicts`;
        Helm 3 patches client-side and has no conflict to force."""
        waiting = ["--wait", "--timeout", timeout] if wait else []
        forcing = ["--force-conflicts"] if take_over_fields and self.helm_tool == "helm" else []
        # A caller that checks the outcome itself (check=False) gets helm's own answer.
        watch = PullWatch(self.kubeconfig, self.namespace) if wait and check else None
        return self.helm("upgrade", self.name, str(chart), *self.helm_args(extra_values, sets),
                         *waiting, *forcing, capture=True, check=check, watch=watch)  # fmt: skip

    def rollback(self, revision: int | str, *, timeout: str = "5m"):
        return self.helm("rollback", self.name, str(revision), "--wait", "--timeout", timeout,
                         capture=True)  # fmt: skip

    def history(self) -> list[dict]:
        out = self.helm("history", self.name, "-o", "json", capture=True, quiet=True).stdout
        return json.loads(out)

    def values(self) -> dict:
        out = self.helm("get", "values", self.name, "--all", "-o", "json", capture=True,
                        quiet=True).stdout  # fmt: skip
        return json.loads(out)

    def expose_backend(self, node_port: int = NODE_PORT) -> None:
        """A NodePort Service of the harness's own in front of the release's backend pods."""
        self._expose("e2e-access", "backend", 8000, node_port)

    def expose_frontend(self, node_port: int = FRONTEND_NODE_PORT) -> None:
        """The same for the web front end's pods (the browser's way in)."""
        self._expose("e2e-frontend", "frontend", 8080, node_port)

    def _expose(self, suffix: str, component: str, port: int, node_port: int) -> None:
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": f"{self.name}-{suffix}",
                "labels": {CREATED_BY[0]: CREATED_BY[1]},
            },
            "spec": {
                "type": "NodePort",
                "selector": {
                    "app.kubernetes.io/instance": self.name,
                    "app.kubernetes.io/component": component,
                },
                "ports": [{"name": "http", "port": port, "targetPort": port,
                           "nodePort": node_port}],
            },
        }  # fmt: skip
        self._take_node_port(node_port)
        self.kubectl("apply", "-f", "-", input_text=json.dumps(service), quiet=True)

    def _take_node_port(self, node_port: int) -> None:
        """A NodePort is cluster-wide. An earlier run's access Service whose namespace is being
        deleted in the background still holds it: that Service is deleted first. One in a live
        namespace (another run on this cluster, or a killed one) is named, not taken."""
        listed = kubectl(self.kubeconfig, "get", "services", "--all-namespaces", "-l",
                         "=".join(CREATED_BY), "-o", "json", capture=True, quiet=True)  # fmt: skip
        for held in json.loads(listed.stdout)["items"]:
            where, name = held["metadata"]["namespace"], held["metadata"]["name"]
            ports = [p.get("nodePort") for p in held["spec"].get("ports", [])]
            if where == self.namespace or node_port not in ports:
                continue
            phase = kubectl(self.kubeconfig, "get", "namespace", where, "-o",
                            "jsonpath={.status.phase}", capture=True, quiet=True,
                            check=False).stdout.strip()  # fmt: skip
            if phase and phase != "Terminating":
                raise HarnessError(
                    f"NodePort {node_port} is held by Service {where}/{name} of another run on "
                    f"this cluster; if no run uses it any more: kubectl delete namespace {where}"
                )
            say(f"NodePort {node_port} is held by {where}/{name}, whose namespace is being "
                "deleted: deleting that Service first")  # fmt: skip
            kubectl(self.kubeconfig, "-n", where, "delete", "service", name,
                    "--ignore-not-found", "--wait=true", quiet=True)  # fmt: skip


def create_namespace(kubeconfig: Path, name: str, *, pod_security: str = "restricted") -> None:
    """A namespace labelled as the harness's, with a Pod Security level enforced."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                CREATED_BY[0]: CREATED_BY[1],
                "pod-security.kubernetes.io/enforce": pod_security,
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": pod_security,
                "pod-security.kubernetes.io/audit": pod_security,
            },
        },
    }
    kubectl(kubeconfig, "apply", "-f", "-", input_text=json.dumps(manifest))


def namespace_exists(kubeconfig: Path, name: str) -> bool:
    got = kubectl(kubeconfig, "get", "namespace", name, "--ignore-not-found", "-o", "name",
                  capture=True, quiet=True)  # fmt: skip
    return bool(got.stdout.strip())


def delete_namespace(kubeconfig: Path, name: str) -> None:
    """Delete without waiting (finalizers finish in the background)."""
    kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", "--ignore-not-found",
            check=False)  # fmt: skip
