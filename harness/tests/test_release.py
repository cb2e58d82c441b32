"""helm's arguments, built in one place: the values in order, then only what the run needs."""

from __future__ import annotations

from pathlib import Path

from harness.release import SCALE_DOWN_WINDOW, Release
from toolchain import decide, versions


def _release(values: list[Path]) -> Release:
    return Release("todo", "ns", Path("kubeconfig"), decide.image_set("local"), values)


def test_values_files_come_first_in_order_then_the_run_settings() -> None:
    args = _release([Path("a.yaml"), Path("b.yaml")]).helm_args(sets=["x=1"])
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert files == ["a.yaml", "b.yaml"]
    assert args.index("b.yaml") < args.index("--set")
    assert sets[-1] == "x=1"
    assert "image.repository=todo-app" in sets and "image.tag=dev" in sets
    assert f"postgresql.image.repository={versions.POSTGRES_LOCAL_REPOSITORY}" in sets


def test_the_harness_overrides_nothing_but_images_and_the_scale_down_window() -> None:
    sets = _release([]).harness_sets()
    keys = {s.split("=", 1)[0] for s in sets}
    assert keys == {"image.repository", "image.tag", "postgresql.image.repository",
                    "postgresql.image.tag", SCALE_DOWN_WINDOW.split("=")[0]}  # fmt: skip
    assert not any("service" in k or "autoscaling.enabled" in k for k in keys)


def test_fullname_follows_the_charts_rule() -> None:
    assert _release([]).fullname == "todo-todo-app"
    named = Release("todo-app-x", "ns", Path("k"), decide.image_set("local"))
    assert named.fullname == "todo-app-x"


def test_pinning_replicas_an_hpa_owned_forces_the_conflict_only_under_helm_4(monkeypatch) -> None:
    """Helm 4 applies server-side: `.spec.replicas` an HPA scaled belongs to the controller
    manager, and an upgrade that pins it conflicts unless forced (Helm 3 has no such flag)."""
    sent: dict[str, list[str]] = {}
    for tool in ("helm", "helm3"):
        release = _release([])
        release.helm_tool = tool
        monkeypatch.setattr(release, "helm", lambda *args, _t=tool, **kw: sent.update({_t: args}))
        release.upgrade(sets=["mcpServer.replicaCount=3"], take_over_fields=True, check=False)
    assert "--force-conflicts" in sent["helm"]
    assert "--force-conflicts" not in sent["helm3"]
    release = _release([])
    monkeypatch.setattr(release, "helm", lambda *args, **kw: sent.update({"plain": args}))
    release.upgrade(sets=["x=1"], check=False)
    assert "--force-conflicts" not in sent["plain"]
