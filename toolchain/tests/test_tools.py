"""The pinned tools: which build each name means, and where a run finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import decide, tools, versions


def _choice_env(node: str) -> dict[str, str]:
    choice = decide.decide({"TODO_IMAGE_SOURCE": "upstream", "TODO_NETPOL_ENFORCER": "kindnet"},
                           node_image=node, probe=lambda url: True)  # fmt: skip
    return choice.env()


def test_kubectl_follows_the_runs_kubernetes_minor() -> None:
    # kubectl is supported within one minor of its server; the matrix spans more.
    for minor, node in versions.KUBERNETES_MATRIX.items():
        assert tools.kubectl_version(_choice_env(node)).startswith(minor + ".")
    assert tools.kubectl_version({}) == versions.KUBERNETES_VERSION


def test_kubectl_is_stamped_with_the_version_it_is_built_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TODO_CACHE_DIR", str(tmp_path))
    build = tools.kubectl_build("v1.35.8")
    assert build.version == "v1.35.8"
    assert "-X k8s.io/component-base/version.gitVersion=v1.35.8" in build.ldflags
    assert build.out_dir().name == "kubectl-v1.35.8"


def test_both_helm_majors_are_separate_builds() -> None:
    helm, helm3 = tools.BUILDS["helm"], tools.BUILDS["helm3"]
    assert (helm.module, helm.version) == (versions.HELM_MODULE, versions.HELM_VERSION)
    assert (helm3.module, helm3.version) == (versions.HELM3_MODULE, versions.HELM3_VERSION)
    assert helm3.binaries == (("helm3", "helm.sh/helm/v3/cmd/helm"),)
    assert f"-X helm.sh/helm/v4/internal/version.version={versions.HELM_VERSION}" in helm.ldflags
    assert any(f.endswith(f"k8sVersionMinor={versions.HELM3_KUBERNETES_MINOR}")
               for f in helm3.ldflags)  # fmt: skip


def test_a_tool_is_found_at_its_pinned_version_not_through_the_shared_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two checkouts with other pins share the cache: <cache>/bin/kind may point at theirs.
    monkeypatch.setenv("TODO_CACHE_DIR", str(tmp_path))
    with pytest.raises(tools.ToolError, match="python -m toolchain tools"):
        tools.tool("kind")
    built = tools.BUILDS["kind"].out_dir() / "bin" / "kind"
    built.parent.mkdir(parents=True)
    built.write_text("")
    other = tmp_path / "go" / "kind-v0.1.0" / "bin" / "kind"
    other.parent.mkdir(parents=True)
    other.write_text("")
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin" / "kind").symlink_to(other)
    assert tools.tool("kind") == built
