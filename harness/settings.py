"""One table of options: the pytest options, the harness CLI and perf's defaults.

Each option has a name, a command-line flag, an environment variable (the
tool's prefix plus the option's suffix: `E2E_NODES` for e2e, `PERF_NODES`
for perf), a default and a help line. `add_pytest_options`,
`add_cli_options` and `from_mapping` turn the same table into pytest
options, argparse options and a `Settings` value; perf passes its own
defaults (its own cluster and port, so it never collides with e2e).
Precedence: explicit option > environment variable > default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHART_DIR = ROOT / "chart" / "todo-app"
KIND_VALUES = ROOT / "harness" / "values-kind.yaml"
# E2E_VALUES=shipped deploys the chart with its own defaults and no values file.
SHIPPED = "shipped"


@dataclass(frozen=True)
class Option:
    name: str
    env: str  # suffix after the tool's prefix, e.g. "NODES"
    default: Any
    help: str
    kind: str = "str"  # str | int | flag | list

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("cluster_name", "CLUSTER_NAME", "todo-e2e", "kind cluster name"),
    Option("nodes", "NODES", 1, "kind nodes: one control plane and N-1 workers", kind="int"),
    Option("node_image", "NODE_IMAGE", None, "kind node image (default: the run's pinned one)"),
    Option("k8s_version", "K8S_VERSION", None, "Kubernetes minor whose pinned node image to use"),
    Option(
        "values",
        "VALUES",
        (str(KIND_VALUES.relative_to(ROOT)),),
        "Helm values files, in order (comma-separated in the environment); "
        f"'{SHIPPED}' = the chart's own defaults only",
        kind="list",
    ),
    Option(
        "kubeconfig",
        "KUBECONFIG",
        None,
        "use the cluster of this kubeconfig (its current context) instead of creating one",
    ),
    Option(
        "install_addons",
        "INSTALL_ADDONS",
        False,
        "on an existing cluster, install metrics-server and a NetworkPolicy enforcer too",
        kind="flag",
    ),
    Option(
        "force_context",
        "FORCE_CONTEXT",
        False,
        "run against a context whose name suggests production",
        kind="flag",
    ),
    Option("keep_cluster", "KEEP_CLUSTER", False, "keep the kind cluster afterwards", kind="flag"),
    Option(
        "reuse_cluster",
        "REUSE_CLUSTER",
        False,
        "reuse a running kind cluster of that name (and keep it)",
        kind="flag",
    ),
    Option(
        "host_port",
        "HOST_PORT",
        30080,
        "loopback port where the kind cluster publishes the backend",
        kind="int",
    ),
    Option(
        "registry",
        "REGISTRY",
        None,
        "push the run's images to this registry (host[:port][/path]) and have the release "
        "pull them from there: how the images reach a cluster that is not kind",
    ),
    Option(
        "push_all",
        "PUSH_ALL",
        False,
        "with --registry: push every image the run built here too (PostgreSQL, add-ons), not "
        "only the application's",
        kind="flag",
    ),
    Option(
        "registry_config",
        "REGISTRY_CONFIG",
        None,
        "a Docker config file (config.json) with credentials for --registry: used to push, and "
        "as the image pull secret in the run's namespaces",
    ),
    Option(
        "local_registry",
        "LOCAL_REGISTRY",
        False,
        "kind: run the local registry on kind's network and have the nodes pull every image "
        "from it (nothing side-loaded)",
        kind="flag",
    ),
    Option(
        "image_mirror",
        "IMAGE_MIRROR",
        None,
        "pull every upstream image through this mirror (host[:port][/path], one prefix per "
        "source registry: <mirror>/docker.io/library/postgres:...); TODO_IMAGE_MIRROR too",
    ),
    Option("namespace", "NAMESPACE", None, "namespace of the release (default: a fresh one)"),
    Option("release", "RELEASE", "todo", "Helm release name"),
    Option(
        "upgrade_from",
        "UPGRADE_FROM",
        None,
        "git revision of the chart the upgrade promise starts from (default: the last "
        "released chart version's tag, else the commit before the last chart change)",
    ),
)
BY_NAME = {o.name: o for o in OPTIONS}
FRONTEND_PORT_OFFSET = 100  # the front end's loopback port, from the backend's (`host_port`)


@dataclass(frozen=True)
class Settings:
    cluster_name: str = "todo-e2e"
    nodes: int = 1
    node_image: str | None = None
    k8s_version: str | None = None
    values: tuple[str, ...] = field(default_factory=tuple)
    kubeconfig: str | None = None
    install_addons: bool = False
    force_context: bool = False
    keep_cluster: bool = False
    reuse_cluster: bool = False
    host_port: int = 30080
    registry: str | None = None
    push_all: bool = False
    registry_config: str | None = None
    local_registry: bool = False
    image_mirror: str | None = None
    namespace: str | None = None
    release: str = "todo"
    upgrade_from: str | None = None

    @property
    def existing_cluster(self) -> bool:
        return bool(self.kubeconfig)

    @property
    def cluster_keeps_its_addons(self) -> bool:
        """A cluster the run did not create, and no leave to install add-ons into it."""
        return self.existing_cluster and not self.install_addons

    def decision_args(self) -> dict[str, Any]:
        """What these settings tell `toolchain.decide.current()` about the run."""
        return {
            "node_image": self.node_image,
            "k8s_version": self.k8s_version,
            "existing_cluster": self.cluster_keeps_its_addons,
            "mirror": self.image_mirror,
        }

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    @property
    def frontend_host_port(self) -> int:
        """Loopback port where a kind cluster publishes the web front end: `host_port` + 100,
        so e2e's and perf's clusters (30080, 30081) keep apart (30180, 30181)."""
        return self.host_port + FRONTEND_PORT_OFFSET

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_host_port}"

    def values_files(self) -> list[Path]:
        """The values files to layer, resolved against the repository; [] when shipped."""
        if list(self.values) == [SHIPPED]:
            return []
        paths = [Path(v) if Path(v).is_absolute() else ROOT / v for v in self.values]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ValueError(f"values file(s) not found: {', '.join(missing)}")
        return paths

    def describe_values(self) -> str:
        if list(self.values) == [SHIPPED]:
            return "the chart's defaults as shipped"
        return ", ".join(self.values)


def _convert(option: Option, raw: Any) -> Any:
    if raw is None:
        return None
    if option.kind == "int":
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{option.flag} must be a whole number, not {raw!r}") from None
        if value < 1:
            raise ValueError(f"{option.flag} must be at least 1, not {value}")
        return value
    if option.kind == "flag":
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in ("1", "true", "yes", "on")
    if option.kind == "list":
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return tuple(i.strip() for i in items if i and i.strip())
    return str(raw)


def env_default(option: Option, prefix: str, defaults: Mapping[str, Any], environ=None) -> Any:
    """The option's value before any command line: environment, else default."""
    env = os.environ if environ is None else environ
    raw = env.get(f"{prefix}_{option.env}", "")
    if raw.strip():
        return _convert(option, raw)
    return defaults.get(option.name, option.default)


def from_mapping(
    given: Mapping[str, Any],
    prefix: str = "E2E",
    defaults: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from explicit values (None/absent = not given), the environment, defaults."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        explicit = given.get(option.name)
        if explicit is None or explicit == () or explicit == []:
            values[option.name] = env_default(option, prefix, defaults or {}, environ)
        else:
            values[option.name] = _convert(option, explicit)
        if option.kind == "list" and values[option.name] is not None:
            values[option.name] = tuple(values[option.name])
    return Settings(**values)


def add_cli_options(parser, prefix: str = "E2E", defaults: Mapping[str, Any] | None = None) -> None:
    """The table as argparse options (defaults None: `from_mapping` fills them in)."""
    for option in OPTIONS:
        default = env_default(option, prefix, defaults or {})
        help_text = f"{option.help} (env {prefix}_{option.env}; default {default!r})"
        if option.kind == "flag":
            parser.add_argument(option.flag, action="store_true", default=None, help=help_text)
        elif option.kind == "list":
            parser.add_argument(option.flag, action="append", default=None, help=help_text)
        else:
            parser.add_argument(option.flag, default=None, help=help_text)


def add_pytest_options(add: Callable[..., None], prefix: str = "E2E") -> None:
    """The table as pytest options; `add` is a group's `addoption`."""
    for option in OPTIONS:
        help_text = f"{option.help} (env {prefix}_{option.env})"
        if option.kind == "flag":
            add(option.flag, action="store_true", default=None, help=help_text)
        elif option.kind == "list":
            add(option.flag, action="append", default=None, help=help_text)
        else:
            add(option.flag, default=None, help=help_text)


def joined_for_pytest(args: list[str]) -> list[str]:
    """`args` with the value of every option of the table joined to it (`--kubeconfig=PATH`).

    pytest reads a separate value that names an existing file (`--registry-config
    ~/.docker/config.json`) as a test path before it knows this project's options: it
    roots the run in that file's folder, loads none of them and refuses every one."""
    valued = {o.flag for o in OPTIONS if o.kind != "flag"}
    out: list[str] = []
    items = iter(args)
    for arg in items:
        value = next(items, None) if arg in valued else None
        out.append(arg if value is None else f"{arg}={value}")
    return out


def env_for(settings: Settings, prefix: str = "E2E") -> dict[str, str]:
    """The environment that hands these settings to another process: every option, an
    unset one as "" (read as unset), so none comes from the caller's own environment."""
    out: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        option = BY_NAME[f.name]
        if value is None:
            out[f"{prefix}_{option.env}"] = ""
        elif option.kind == "list":
            out[f"{prefix}_{option.env}"] = ",".join(value)
        elif option.kind == "flag":
            out[f"{prefix}_{option.env}"] = "1" if value else "0"
        else:
            out[f"{prefix}_{option.env}"] = str(value)
    return out
