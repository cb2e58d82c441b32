"""Talking to the cluster: the one kubectl runner and the official Kubernetes client.

`kubectl()` runs the pinned kubectl against a kubeconfig (for what the CLI
does best: apply, rollout status, exec, logs, drain). `Kube` wraps the
official client for one namespace and release: typed reads, waits and
metrics. The `kubernetes` package is imported only when a `Kube` is made, so
the CLI's other commands run without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.proc import HarnessError, run
from toolchain.tools import tool

if TYPE_CHECKING:
    from kubernetes import client

T = TypeVar("T")

COMPONENTS = ("backend", "mcp-server", "postgresql")
RELEASE = "todo"


def kubectl(kubeconfig: Path, *args: str, **kwargs):
    """Run the pinned kubectl against `kubeconfig` (see harness.proc.run for kwargs)."""
    return run([tool("kubectl"), "--kubeconfig", str(kubeconfig), *args], **kwargs)


def wait_cluster_ready(kubeconfig: Path, timeout: float = 240) -> None:
    """Wait for what pods need: the default ServiceAccount, Ready nodes, CoreDNS."""
    deadline = time.monotonic() + timeout
    while kubectl(kubeconfig, "get", "serviceaccount", "default", "-n", "default",
                  check=False, capture=True, quiet=True).returncode != 0:  # fmt: skip
        if time.monotonic() > deadline:
            raise HarnessError("the default ServiceAccount never appeared")
        time.sleep(1)
    left = max(10, int(deadline - time.monotonic()))
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={left}s")
    left = max(10, int(deadline - time.monotonic()))
    kubectl(kubeconfig, "-n", "kube-system", "rollout", "status", "deployment/coredns",
            f"--timeout={left}s")  # fmt: skip


def parse_quantity(quantity: str):
    from kubernetes.utils.quantity import parse_quantity as parse

    return parse(quantity)


def cpu_millicores(quantity: str | None) -> float | None:
    return None if quantity is None else float(parse_quantity(quantity) * 1000)


def mem_mib(quantity: str | None) -> float | None:
    return None if quantity is None else float(parse_quantity(quantity) / (1024 * 1024))


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 1.0,
    what: str = "condition",
) -> T:
    """Call probe until it returns something truthy; fail (AssertionError) after timeout.

    API errors count as "not yet": the API answers oddly while things restart.
    """
    from kubernetes.client.exceptions import ApiException

    from harness.proc import wait_until

    try:
        return wait_until(probe, timeout=timeout, what=what, interval=interval,
                          errors=(ApiException,))  # fmt: skip
    except HarnessError as exc:
        raise AssertionError(str(exc)) from None


def selector(component: str | None = None, release: str = RELEASE) -> str:
    parts = [f"app.kubernetes.io/instance={release}"]
    if component:
        parts.append(f"app.kubernetes.io/component={component}")
    return ",".join(parts)


def pod_ready(pod) -> bool:
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "Ready":
            return cond.status == "True"
    return False


def ready_time(pod) -> datetime | None:
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "Ready" and cond.status == "True":
            return cond.last_transition_time
    return None


# Container waiting reasons that mean "this image does not reach the node".
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
NEVER_TRANSIENT = ("InvalidImageName", "ErrImageNeverPull")


class PullWatch:
    """A `harness.proc.run` watch: names the pods of a namespace that cannot pull an image,
    with the pull error from their events, once a failure shows twice in a row (kubelets
    retry a failed pull; a wrong name or a missing local image never heals)."""

    def __init__(self, kubeconfig: Path, namespace: str, selector: str | None = None) -> None:
        self.kubeconfig, self.namespace, self.selector = kubeconfig, namespace, selector
        self._seen: set[tuple[str, str]] = set()

    def failing(self) -> dict[tuple[str, str], tuple[str, str]]:
        """{(pod, image): (reason, message)} of the containers waiting on their image now."""
        args = ["-n", self.namespace, "get", "pods", "-o", "json"]
        if self.selector:
            args += ["-l", self.selector]
        got = kubectl(self.kubeconfig, *args, capture=True, quiet=True, check=False)
        found = {}
        for pod in json.loads(got.stdout or '{"items": []}')["items"]:
            status = pod.get("status") or {}
            for container in [*(status.get("initContainerStatuses") or []),
                              *(status.get("containerStatuses") or [])]:  # fmt: skip
                waiting = (container.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in PULL_FAILURES:
                    found[(pod["metadata"]["name"], container.get("image", "?"))] = (
                        waiting["reason"],
                        waiting.get("message", ""),
                    )
        return found

    def _pull_error(self, pod: str, fallback: str) -> str:
        """The newest "Failed" event of the pod: the registry's own words about the pull."""
        got = kubectl(self.kubeconfig, "-n", self.namespace, "get", "events", "-o", "json",
                      "--field-selector", f"involvedObject.name={pod},reason=Failed",
                      capture=True, quiet=True, check=False)  # fmt: skip
        events = json.loads(got.stdout or '{"items": []}')["items"]
        events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        # "Failed to pull image ...: <the registry's answer>" says why; the later
        # "Error: ErrImagePull" / "Error: ImagePullBackOff" only that it failed.
        reasons = [e["message"] for e in events if "Failed to pull image" in e.get("message", "")]
        return (reasons or [e["message"] for e in events] or [fallback])[-1]

    def __call__(self) -> str | None:
        failing = self.failing()
        lasting = {key: value for key, value in failing.items()
                   if key in self._seen or value[0] in NEVER_TRANSIENT}  # fmt: skip
        self._seen = set(failing)
        if not lasting:
            return None
        lines = [f"  - pod {pod}: image {image}: {reason}: {self._pull_error(pod, message)}"
                 for (pod, image), (reason, message) in sorted(lasting.items())]  # fmt: skip
        return f"pods in {self.namespace} cannot pull their images:\n" + "\n".join(lines)


class Kube:
    """API handles for one kubeconfig and the run's namespace."""

    def __init__(self, kubeconfig: Path, namespace: str, release: str = RELEASE) -> None:
        from kubernetes import client, config

        self.kubeconfig = kubeconfig
        self.release = release
        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.autoscaling = client.AutoscalingV2Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.networking = client.NetworkingV1Api(self.api_client)
        self.policy = client.PolicyV1Api(self.api_client)
        self.namespace = namespace

    # --- reads ----------------------------------------------------------------------

    def pods(self, component: str | None = None) -> list[client.V1Pod]:
        return [p for p in self.all_pods(component) if p.metadata.deletion_timestamp is None]

    def all_pods(self, component: str | None = None) -> list[client.V1Pod]:
        """Terminating pods too: they keep serving open connections through preStop."""
        items = self.core.list_namespaced_pod(
            self.namespace, label_selector=selector(component, self.release)
        )
        return items.items

    def terminating_pods(self, component: str | None = None) -> list[client.V1Pod]:
        return [p for p in self.all_pods(component) if p.metadata.deletion_timestamp is not None]

    def running_pods(self, component: str) -> list[client.V1Pod]:
        return [p for p in self.pods(component) if p.status.phase == "Running"]

    def ready_pods(self, component: str) -> list[client.V1Pod]:
        return [p for p in self.pods(component) if pod_ready(p)]

    def deployments(self) -> list[client.V1Deployment]:
        return self.apps.list_namespaced_deployment(
            self.namespace, label_selector=selector(None, self.release)
        ).items

    def deployment(self, component: str) -> client.V1Deployment | None:
        items = self.apps.list_namespaced_deployment(
            self.namespace, label_selector=selector(component, self.release)
        ).items
        return items[0] if items else None

    def statefulsets(self) -> list[client.V1StatefulSet]:
        return self.apps.list_namespaced_stateful_set(
            self.namespace, label_selector=selector(None, self.release)
        ).items

    def hpa(self, component: str = "mcp-server") -> client.V2HorizontalPodAutoscaler | None:
        items = self.autoscaling.list_namespaced_horizontal_pod_autoscaler(
            self.namespace, label_selector=selector(component, self.release)
        ).items
        return items[0] if items else None

    def service(self, component: str) -> client.V1Service | None:
        items = self.core.list_namespaced_service(
            self.namespace, label_selector=selector(component, self.release)
        ).items
        return items[0] if items else None

    def secret_value(self, name: str, key: str) -> str:
        import base64

        secret = self.core.read_namespaced_secret(name, self.namespace)
        return base64.b64decode(secret.data[key]).decode()

    def pod_metrics(self) -> dict[str, dict[str, tuple[float, float]]]:
        """{pod: {container: (cpu millicores, memory MiB)}} from metrics.k8s.io."""
        data: dict[str, Any] = self.custom.list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", self.namespace, "pods"
        )
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for item in data.get("items", []):
            labels = item["metadata"].get("labels") or {}
            if labels.get("app.kubernetes.io/instance") != self.release:
                continue
            out[item["metadata"]["name"]] = {
                c["name"]: (cpu_millicores(c["usage"]["cpu"]), mem_mib(c["usage"]["memory"]))
                for c in item.get("containers", [])
            }
        return out

    def logs(self, pod: str, container: str | None = None, since_seconds: int | None = None) -> str:
        kwargs: dict[str, Any] = {}
        if container:
            kwargs["container"] = container
        if since_seconds:
            kwargs["since_seconds"] = since_seconds
        return self.core.read_namespaced_pod_log(pod, self.namespace, **kwargs)

    # --- waits ----------------------------------------------------------------------

    def wait_deployment_available(self, component: str, timeout: float = 120) -> None:
        def probe() -> bool:
            dep = self.deployment(component)
            if dep is None:
                return False
            st = dep.status
            want = dep.spec.replicas or 0
            return (
                st.observed_generation == dep.metadata.generation
                and (st.updated_replicas or 0) == want
                and (st.available_replicas or 0) == want
                and (st.replicas or 0) == want
            )

        wait_for(probe, timeout=timeout, what=f"deployment {component} to be available")

    def ready_checks(self, pod: str, port: int = 8000) -> dict[str, str]:
        """The checks of a pod's own /ready answer, asked inside the pod over loopback: what
        that one pod reaches (its node's routes to the Services it calls), not what the
        Service in front of it happens to pick."""
        script = (
            "import urllib.request, urllib.error\n"
            f"url = 'http://127.0.0.1:{port}/ready'\n"
            "try:\n"
            "    body = urllib.request.urlopen(url, timeout=5).read()\n"
            "except urllib.error.HTTPError as exc:\n"
            "    body = exc.read()\n"
            "print(body.decode())\n"
        )
        got = kubectl(self.kubeconfig, "-n", self.namespace, "exec", pod, "--", "python", "-c",
                      script, capture=True, quiet=True, check=False)  # fmt: skip
        try:
            return json.loads(got.stdout).get("checks") or {}
        except ValueError:
            return {}

    def wait_every_pod_reaches(
        self, component: str, checks: tuple[str, ...], port: int = 8000, timeout: float = 120
    ) -> None:
        """Until every ready pod of `component` reports each of `checks` "ok" (or "disabled":
        switched off by the values) from inside itself: after a fault, a Service answering
        through one pod says nothing of the others, whose nodes may not route to the new
        endpoints yet."""

        def all_reach() -> bool:
            pods = self.ready_pods(component)
            return bool(pods) and all(
                all(
                    self.ready_checks(p.metadata.name, port).get(c) in ("ok", "disabled")
                    for c in checks
                )  # fmt: skip
                for p in pods
            )

        wait_for(all_reach, timeout=timeout,
                 what=f"every {component} pod to report {', '.join(checks)} ok")  # fmt: skip

    def wait_ready(self, component: str, count: int = 1, timeout: float = 120) -> list:
        return wait_for(
            lambda: (pods := self.ready_pods(component)) and len(pods) >= count and pods,
            timeout=timeout,
            what=f"{count} ready {component} pod(s)",
        )


def now() -> datetime:
    return datetime.now(UTC)
