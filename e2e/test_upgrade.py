"""Promise 12: upgrades that keep data and keep serving.

The chart as of an earlier revision (`--upgrade-from REF`; by default the
newest `todo-app-<version>` tag, else the commit before the last change to
the chart, chart/todo-app) is installed as a release of its own with Helm 3,
as the users who installed it did, with data written through the API. Then,
each while an in-cluster client writes tasks steadily and with the run's Helm
(4 by default, so the first step is the one users take when they move to
Helm 4: a release Helm 3 installed, upgraded by Helm 4): `helm upgrade` to the
working tree, `helm rollback` to the earlier revision, and a switch of the
live release from the run's values to the production values.
Asserted after each step: every acknowledged task (of that step and every one
before) is still stored, and the MCP server is there exactly when the
revision deploys it. Failed requests and the longest gap are recorded for the
report (the goal is 0 failed).

This is the last promise: it uninstalls the main release first, so the
earlier revision (in a namespace of its own) and the production values have
the cluster's room. Where the nodes have less than 4 CPUs allocatable in all,
every revision of this release also gets harness/values-small-nodes.yaml (CPU
requests only); the report names the values files.
"""

# ruff: noqa: S603, S607 - runs git with fixed arguments on this repository

from __future__ import annotations

import secrets
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from e2e.steady import SteadyLoad
from harness.kube import Kube
from harness.release import Release
from harness.settings import CHART_DIR, ROOT

pytestmark = pytest.mark.promise(12)

RELEASE = "todo-up"
PRODUCTION = CHART_DIR / "values-production.yaml"
SMALL_NODES = ROOT / "harness" / "values-small-nodes.yaml"
ROOM_MILLICPU = 4000  # below this much allocatable CPU, production's requests do not fit


# Reported when the checkout holds no revision of the chart before the working tree's.
NO_EARLIER = "not provable in this checkout: no earlier chart revision"


class NoEarlierRevision(Exception):
    """The checkout has no earlier chart revision; the message says how to get one."""


def _git(*args: str, repo: Path = ROOT) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def fetch_history(repo: Path = ROOT) -> str | None:
    """In a shallow clone (CI's default: depth 1, no tags), fetch the rest of the history
    and the tags from origin, since the earlier chart lives there. Returns what was done,
    None when the clone is whole; raises NoEarlierRevision when the fetch fails."""
    if _git("rev-parse", "--is-shallow-repository", repo=repo) != "true":
        return None
    fetch = subprocess.run(["git", "-C", str(repo), "fetch", "--quiet", "--unshallow", "--tags",
                            "origin"], capture_output=True, text=True, check=False,
                           timeout=300)  # fmt: skip
    if fetch.returncode != 0:
        raise NoEarlierRevision(
            f"{NO_EARLIER} (a shallow clone, and `git fetch --unshallow origin` failed: "
            f"{fetch.stderr.strip()[:200]}); clone with the history (actions/checkout: "
            "fetch-depth: 0) or pass --upgrade-from REF"
        )
    return "the shallow clone's history fetched from origin"


def earlier_revision(explicit: str | None, repo: Path = ROOT) -> tuple[str, str]:
    """(git revision, how it was chosen) of the chart the upgrade starts from."""
    if explicit:
        return (_git("rev-parse", "--verify", f"{explicit}^{{commit}}", repo=repo),
                f"--upgrade-from {explicit}")  # fmt: skip
    fetched = fetch_history(repo)
    revision, why = _default_revision(repo)
    return revision, f"{why}; {fetched}" if fetched else why


def _default_revision(repo: Path) -> tuple[str, str]:
    tags = _git("tag", "--list", "todo-app-*", "--sort=-v:refname", repo=repo).splitlines()
    if tags:
        return (_git("rev-parse", f"{tags[0]}^{{commit}}", repo=repo),
                f"newest released chart tag {tags[0]}")  # fmt: skip
    changed = subprocess.run(["git", "-C", str(repo), "diff", "--quiet", "HEAD", "--",
                              "chart/todo-app"], check=False).returncode != 0  # fmt: skip
    if changed:
        return _git("rev-parse", "HEAD", repo=repo), "HEAD (the working tree changes the chart)"
    last = _git("log", "-n", "1", "--format=%H", "--", "chart/todo-app", repo=repo)
    parent = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                             f"{last}^"], capture_output=True, text=True,
                            check=False)  # fmt: skip
    if parent.returncode != 0:
        raise NoEarlierRevision(
            f"{NO_EARLIER} (the chart's last change {last[:10]} is the oldest commit here); "
            "pass --upgrade-from REF"
        )
    return parent.stdout.strip(), f"the commit before the last chart change {last[:10]}"


def chart_at(revision: str, into: Path) -> Path:
    """The chart as the revision has it, read from git file by file."""
    for path in _git("ls-tree", "-r", "--name-only", revision, "--", "chart/todo-app").split("\n"):
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{path}"],
                                          capture_output=True, check=True).stdout)  # fmt: skip
    return into / "chart" / "todo-app"


def _shown(path: Path) -> str:
    """A values file as the report names it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def allocatable_millicpu(kube: Kube) -> int:
    from harness.kube import cpu_millicores

    return int(
        sum(cpu_millicores(n.status.allocatable["cpu"]) for n in kube.core.list_node().items)
    )


@pytest.fixture(scope="module")
def upgrade(environment, release, harness_settings, results):
    """The main release uninstalled; an earlier revision's release in a namespace of its own."""
    try:
        revision, why = earlier_revision(harness_settings.upgrade_from)
    except NoEarlierRevision as exc:
        pytest.skip(str(exc))
    release.helm("uninstall", release.name, "--wait", "--timeout", "3m", capture=True)
    namespace = environment.new_namespace(f"{release.namespace}-up")
    workdir = Path(tempfile.mkdtemp(prefix="todo-upgrade-"))
    base_chart = chart_at(revision, workdir)
    kube = Kube(release.kubeconfig, namespace, RELEASE)
    values = list(release.values_files)
    small_nodes = allocatable_millicpu(kube) < ROOM_MILLICPU
    if small_nodes:
        # An earlier revision may ask more CPU per pod than these nodes hold while a rollout
        # runs old and new pods side by side (the switch to production values deadlocked on
        # a 2-core node: the recreated PostgreSQL pod found no room).
        values.append(SMALL_NODES)
    installed_by = Release(RELEASE, namespace, release.kubeconfig, release.images, values,
                           pull_secrets=release.pull_secrets, helm_tool="helm3")  # fmt: skip
    installed_by.install(chart=base_chart, timeout="6m")
    environment.created.append(
        f"helm release {RELEASE} (chart at {revision[:10]}, installed by Helm 3) in {namespace}"
    )
    up = replace(installed_by, helm_tool=release.helm_tool)  # the run's Helm from here on
    state = {
        "release": up,
        "kube": kube,
        "base_chart": base_chart,
        "revision": revision,
        "why": why,
        "url": f"http://{up.fullname}-backend.{namespace}.svc:8000",
        "user": (f"upgrade-{secrets.token_hex(4)}", secrets.token_urlsafe(16)),
        "acked": set(),
        "steps": [],
        "small_nodes": small_nodes,
        "helm": _major(release.helm_tool),
    }
    _record(state, results)
    return state


def _major(helm_tool: str) -> str:
    return "3" if helm_tool == "helm3" else "4"


def _record(upgrade: dict, results) -> None:
    """The promise's figures so far, for the report."""
    results.put("upgrade", {"from": upgrade["revision"], "chosen_by": upgrade["why"],
                            "values": [_shown(p) for p in upgrade["release"].values_files],
                            "steps": upgrade["steps"]})  # fmt: skip


def _mcp_deployed(kube: Kube) -> bool:
    return kube.deployment("mcp-server") is not None


def _mcp_replicas(kube: Kube) -> int | None:
    deployment = kube.deployment("mcp-server")
    return None if deployment is None else deployment.spec.replicas


def _lowest_mcp_replicas(kube: Kube, stop: threading.Event, seen: list[int]) -> None:
    """The MCP Deployment's desired replicas, sampled until `stop`; the lowest is kept."""
    while not stop.is_set():
        try:
            replicas = _mcp_replicas(kube)
        except Exception:  # one failed read (the API server is busy in a rollout): read again
            replicas = None
        if replicas is not None:
            seen[:] = [min([*seen, replicas])]
        time.sleep(0.5)


def _step(upgrade, name: str, action, results) -> dict:
    """Run one lifecycle action under the steady client; the step's figures, as recorded."""
    kube, release = upgrade["kube"], upgrade["release"]
    client = SteadyLoad(kube, release.images.app, upgrade["url"], *upgrade["user"])
    lowest: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_lowest_mcp_replicas, args=(kube, stop, lowest), daemon=True)
    client.start(name)
    watcher.start()
    try:
        action()
    finally:
        stop.set()
        watcher.join(timeout=10)
        outcome = client.stop(name)
    lost = outcome.lost(upgrade["acked"])
    step = {**outcome.summary(), "helm": upgrade["helm"], "mcp_server": _mcp_deployed(kube),
            "mcp_replicas_lowest": lowest[0] if lowest else None,
            "data_kept": "yes" if not lost else f"{len(lost)} lost"}  # fmt: skip
    upgrade["steps"].append(step)
    _record(upgrade, results)
    upgrade["acked"] |= set(outcome.acked)
    assert not lost, f"{name}: acknowledged tasks lost: {sorted(lost)[:20]}"
    assert outcome.requests > 0 and outcome.acked, outcome.summary()
    bad = {c for c in outcome.codes if c.startswith("5") and c not in ("502", "503", "504")}
    assert not bad, (
        f"{name}: server errors other than the documented outage answers: {outcome.codes}"
    )
    return step


def test_upgrade_to_the_working_tree_keeps_data_and_serves(upgrade, results):
    """With Helm 4 (the default), the step users take: a release Helm 3 installed, upgraded
    by Helm 4 (which keeps the release's client-side apply) under load."""
    before = _mcp_deployed(upgrade["kube"])
    upgrade["mcp_in_earlier_revision"] = before
    name = "upgrade" if upgrade["helm"] == "3" else "upgrade (Helm 3 release, Helm 4 upgrade)"
    _step(upgrade, name, lambda: upgrade["release"].upgrade(timeout="6m"), results)
    upgrade["steps"][-1]["helm"] = f"3 -> {upgrade['helm']}"
    _record(upgrade, results)
    history = upgrade["release"].history()
    assert [h["status"] for h in history][-2:] == ["superseded", "deployed"], history
    # The working tree's chart deploys the MCP server (on by default): it arrives with the
    # upgrade if the earlier revision did not have it, and is there either way.
    assert _mcp_deployed(upgrade["kube"])


def test_rollback_to_the_earlier_revision_keeps_data_and_serves(upgrade, results):
    first = min(int(h["revision"]) for h in upgrade["release"].history())
    _step(upgrade, "rollback", lambda: upgrade["release"].rollback(first, timeout="6m"), results)
    # The MCP server leaves with the rollback exactly when the earlier revision has none.
    assert _mcp_deployed(upgrade["kube"]) == upgrade["mcp_in_earlier_revision"]


def test_switch_to_production_values_keeps_data_and_serves(upgrade, results):
    release = upgrade["release"]
    extra = [PRODUCTION]
    if upgrade["small_nodes"]:
        extra.append(SMALL_NODES)  # production's CPU requests do not fit these nodes
    switched = replace(release, values_files=[])  # the live release's pull secrets and Helm
    kube = upgrade["kube"]
    running = None
    if kube.hpa() is None and _mcp_deployed(kube) and not upgrade["small_nodes"]:
        # HPA off -> on: where a `replicas` field dropped from the Deployment would shrink it
        # to one pod until the HPA reacts. Two pods run before, so a drop shows (where the
        # nodes have room for a second pod of the earlier revision; the render test covers
        # the rest).
        running = 2
        release.kubectl("scale", f"deployment/{kube.deployment('mcp-server').metadata.name}",
                        f"--replicas={running}", quiet=True)  # fmt: skip
        kube.wait_deployment_available("mcp-server", timeout=120)
    step = _step(upgrade, "default -> production values",
                 lambda: switched.upgrade(extra_values=extra, timeout="6m"), results)  # fmt: skip
    upgrade["steps"][-1]["values"] = [_shown(p) for p in extra]
    deployment = upgrade["kube"].deployment("backend")
    assert deployment.spec.replicas == 2, "production runs two backend pods"
    if running is not None:  # switching the HPA on must not shrink the running MCP Deployment
        assert step["mcp_replicas_lowest"] is not None, "the MCP Deployment was never read"
        assert step["mcp_replicas_lowest"] >= running, (
            f"the MCP server's replicas dropped from {running} to {step['mcp_replicas_lowest']}"
        )
