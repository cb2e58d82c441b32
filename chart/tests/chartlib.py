"""Helpers of the chart tests: find helm, render the chart, the values matrix."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolchain import versions

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart" / "todo-app"
TESTS = Path(__file__).resolve().parent
RELEASE = "rel"
NAMESPACE = "todo-ns"
FULLNAME = f"{RELEASE}-todo-app"
# Capabilities used while rendering (helm template --kube-version): the default minor.
KUBE_VERSION = versions.KUBERNETES_VERSION.removeprefix("v")
# `helm template` cannot read the cluster, so the chart refuses to generate secrets it could
# not keep; every render here is given fixed ones unless a test asks for none.
OFFLINE_SECRETS = TESTS / "offline-secrets.yaml"


def find_helm(name: str = "helm") -> Path | None:
    """The pinned helm (`helm` is Helm 4, `helm3` Helm 3) from the cache, else helm on PATH."""
    from toolchain.tools import ToolError, tool

    try:
        return tool(name)
    except ToolError:
        found = shutil.which(name)
        return Path(found) if found else None


@dataclass
class Rendered:
    """The objects `helm template` produced for one set of values."""

    docs: list[dict[str, Any]]
    values: dict[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        have = [(d["kind"], d["metadata"]["name"]) for d in self.docs]
        raise KeyError(f"no {kind} {name}; have {have}")

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(kind, name)
        except KeyError:
            return None

    def workloads(self) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] in ("Deployment", "StatefulSet")]

    def pod_specs(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(name, pod metadata, pod spec) for every pod the release can run, test pods included."""
        out = []
        for d in self.workloads():
            t = d["spec"]["template"]
            out.append((f"{d['kind']}/{d['metadata']['name']}", t["metadata"], t["spec"]))
        for d in self.of_kind("Pod"):
            out.append((f"Pod/{d['metadata']['name']}", d["metadata"], d["spec"]))
        return out


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own helm binary and arguments
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )


def template_args(
    values: dict[str, Any] | None,
    files: tuple[Path, ...],
    tmp_dir: Path,
    release: str = RELEASE,
    secrets: bool = True,
    chart: Path = CHART,
) -> list[str]:
    args = [
        "template",
        release,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    if secrets:
        files = (OFFLINE_SECRETS, *files)
    for f in files:
        args += ["-f", str(f)]
    if values:
        text = yaml.safe_dump(values)
        path = tmp_dir / f"values-{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
        path.write_text(text)
        args += ["-f", str(path)]
    return args


def render(
    helm: Path,
    tmp_dir: Path,
    values: dict[str, Any] | None = None,
    files: tuple[Path, ...] = (),
    release: str = RELEASE,
    secrets: bool = True,
    chart: Path = CHART,
) -> Rendered:
    """helm template the chart (or a copy); fail the test with helm's message if it refuses."""
    proc = run_helm(helm, *template_args(values, files, tmp_dir, release, secrets, chart))
    if proc.returncode != 0:
        pytest.fail(f"helm template failed:\n{proc.stderr}", pytrace=False)
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return Rendered(docs=docs, values=values or {})


def render_error(
    helm: Path,
    tmp_dir: Path,
    values: dict[str, Any] | None = None,
    files: tuple[Path, ...] = (),
    secrets: bool = True,
    chart: Path = CHART,
) -> str:
    """helm template that must fail: return its error output."""
    proc = run_helm(helm, *template_args(values, files, tmp_dir, secrets=secrets, chart=chart))
    assert proc.returncode != 0, f"helm template accepted values to refuse: {values or files}"
    return proc.stderr


# The chart reads the cluster in one helper, `todo-app.live`. `helm template` has no cluster,
# so to render what an install or upgrade would, a copy of the chart gets a `todo-app.live`
# that reads fixture objects (files under cluster/<kind>/<name>.yaml) instead.
_LIVE_HELPER = re.compile(r'\{\{- define "todo-app\.live" -\}\}.*?\{\{- end \}\}', re.S)
_FIXTURE_LIVE_HELPER = """{{- define "todo-app.live" -}}
{{- $ctx := index . 0 }}
{{- $ctx.Files.Get (printf "cluster/%s/%s.yaml" (index . 2) (index . 3)) | default "{}" }}
{{- end }}"""


def chart_with_cluster(tmp_dir: Path, objects: list[dict[str, Any]]) -> Path:
    """A copy of the chart that sees `objects` as the live objects of the release namespace."""
    text = "\n".join(yaml.safe_dump(o, sort_keys=True) for o in objects)
    chart = tmp_dir / f"cluster-{hashlib.sha256(text.encode()).hexdigest()[:16]}" / "todo-app"
    if chart.exists():
        return chart
    shutil.copytree(CHART, chart)
    helpers = chart / "templates" / "_helpers.tpl"
    source, count = _LIVE_HELPER.subn(_FIXTURE_LIVE_HELPER, helpers.read_text())
    assert count == 1, "todo-app.live not found once in _helpers.tpl"
    helpers.write_text(source)
    for obj in objects:
        path = chart / "cluster" / obj["kind"] / f"{obj['metadata']['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(obj))
    return chart


# The values matrix every rendered object is validated for (name -> (files, values)).
PRODUCTION = CHART / "values-production.yaml"
# The harness's kind values (the default of nox -s e2e): rendering them here catches a drift
# between the chart's schema and what the cluster run will ask for, before any cluster.
E2E_VALUES = REPO / "harness" / "values-kind.yaml"
MATRIX: dict[str, tuple[tuple[Path, ...], dict[str, Any]]] = {
    "default": ((), {}),
    "production": ((PRODUCTION,), {}),
    "mcp-disabled": ((), {"mcpServer": {"enabled": False}}),
    "autoscaling-on": (
        (),
        {
            "mcpServer": {
                "autoscaling": {
                    "enabled": True,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}},
                }
            }
        },
    ),
    "autoscaling-off-2-replicas": (
        (),
        {"mcpServer": {"replicaCount": 2, "autoscaling": {"enabled": False}}},
    ),
    "external-db": (
        (),
        {
            "postgresql": {"enabled": False},
            "database": {"host": "db.example.internal", "port": 6432},
        },
    ),
    "existing-secrets": (
        (),
        {
            "database": {"secret": {"create": False, "name": "my-db"}},
            "auth": {"secret": {"create": False, "name": "my-auth"}},
            "frontend": {"secret": {"create": False, "name": "my-frontend"}},
        },
    ),
    "nodeport": ((), {"backend": {"service": {"type": "NodePort", "nodePort": 30080}}}),
    "frontend-ingress": (
        (),
        {
            "frontend": {
                "ingress": {
                    "enabled": True,
                    "className": "nginx",
                    "host": "todo.example.com",
                    "tls": {"secretName": "todo-tls"},
                },
                "trustedProxies": ["10.244.0.0/16"],
            },
            "networkPolicy": {
                "frontendFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}]
            },
        },
    ),
    "egress": ((), {"networkPolicy": {"egress": {"enabled": True}}}),
    "egress-external-db": (
        (),
        {
            "networkPolicy": {
                "egress": {
                    "enabled": True,
                    "externalDatabaseTo": [{"ipBlock": {"cidr": "10.20.30.40/32"}}],
                }
            },
            "postgresql": {"enabled": False},
            "database": {"host": "db.example.internal", "port": 6432},
        },
    ),
    "e2e": ((E2E_VALUES,), {"image": {"repository": "todo-app", "tag": "dev"}}),
    "e2e-production": ((PRODUCTION, E2E_VALUES), {"image": {"tag": "dev"}}),
    "overrides": (
        (),
        {
            "global": {
                "image": {
                    "registry": "registry.example.com/team",
                    "tag": "1.2.3",
                    "pullPolicy": "Never",
                }
            },
            "networkPolicy": {"enabled": False},
            "migrations": {"enabled": False},
            "tests": {"enabled": False},
            "fullnameOverride": "todo",
        },
    ),
}
