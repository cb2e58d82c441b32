"""Wrapper go.mod generation for modules that replace their siblings locally."""

from __future__ import annotations

import pytest

from toolchain import go as gomod

KUBERNETES_LIKE = """// This is a generated file. Do not edit directly.
module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	github.com/spf13/cobra v1.9.1
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0 // indirect
)

require k8s.io/kubectl v0.0.0

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/kubectl => ./staging/src/k8s.io/kubectl
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""

ETCD_LIKE = """module go.etcd.io/etcd/server/v3

go 1.23.0

toolchain go1.23.11

require (
	go.etcd.io/etcd/api/v3 v3.6.4
	go.etcd.io/etcd/client/v3 v3.6.4
)

replace (
	go.etcd.io/etcd/api/v3 => ../api
	go.etcd.io/etcd/client/v3 => ../client/v3
)

// Bad imports are sometimes causing attempts to pull that code.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace github.com/old/thing v1.0.0 => github.com/new/thing v1.2.3
"""


def test_parse_go_mod_reads_blocks_single_lines_and_comments() -> None:
    mod = gomod.parse_go_mod(KUBERNETES_LIKE)
    assert mod.module == "k8s.io/kubernetes"
    assert mod.go == "1.24.0"
    assert mod.godebug == ["default=go1.24"]
    assert mod.requires == {
        "github.com/spf13/cobra": "v1.9.1",
        "k8s.io/api": "v0.0.0",
        "k8s.io/client-go": "v0.0.0",
        "k8s.io/kubectl": "v0.0.0",
    }
    assert [r.old for r in mod.replaces] == [
        "k8s.io/api",
        "k8s.io/client-go",
        "k8s.io/kubectl",
        "k8s.io/sample-controller",
    ]
    assert all(r.is_local for r in mod.replaces)


def test_parse_go_mod_versioned_replace_is_not_local() -> None:
    mod = gomod.parse_go_mod(ETCD_LIKE)
    versioned = [r for r in mod.replaces if r.old == "github.com/old/thing"]
    assert versioned == [
        gomod.Replace("github.com/old/thing", "v1.0.0", "github.com/new/thing", "v1.2.3")
    ]
    assert not versioned[0].is_local


def test_parse_go_mod_rejects_replace_without_arrow() -> None:
    with pytest.raises(ValueError, match="malformed replace"):
        gomod.parse_go_mod("module x\nreplace a/b ../b\n")


def test_kubernetes_wrapper_replaces_staging_with_published_versions() -> None:
    text = gomod.wrapper_go_mod(
        gomod.parse_go_mod(KUBERNETES_LIKE), "v1.34.0", gomod.kubernetes_staging_version
    )
    assert "require k8s.io/kubernetes v1.34.0" in text
    assert "go 1.24.0" in text
    assert "godebug default=go1.24" in text
    assert "\tk8s.io/api => k8s.io/api v0.34.0" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.0" in text
    assert "\tk8s.io/kubectl => k8s.io/kubectl v0.34.0" in text
    # not required by the module, so not replaced (and not downloaded)
    assert "sample-controller" not in text
    assert "./staging" not in text
    reparsed = gomod.parse_go_mod(text)
    assert reparsed.requires == {"k8s.io/kubernetes": "v1.34.0"}
    assert not any(r.is_local for r in reparsed.replaces)


def test_etcd_wrapper_uses_same_tag_and_drops_forbidden_guards() -> None:
    text = gomod.wrapper_go_mod(gomod.parse_go_mod(ETCD_LIKE), "v3.6.4")
    assert "\tgo.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.4" in text
    assert "\tgo.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v3.6.4" in text
    assert "FORBIDDEN" not in text
    assert "\tgithub.com/old/thing v1.0.0 => github.com/new/thing v1.2.3" in text
    assert "toolchain" not in text


def test_wrapper_without_replaces_has_no_replace_block() -> None:
    text = gomod.wrapper_go_mod(gomod.parse_go_mod("module a.b/c\n\ngo 1.23.0\n"), "v1.0.0")
    assert "replace" not in text
    assert gomod.parse_go_mod(text).requires == {"a.b/c": "v1.0.0"}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("v1.34.0", "v0.34.0"), ("v1.33.4", "v0.33.4"), ("v1.35.0-rc.1", "v0.35.0-rc.1")],
)
def test_kubernetes_staging_version(version: str, expected: str) -> None:
    assert gomod.kubernetes_staging_version(version) == expected


@pytest.mark.parametrize("version", ["1.34.0", "v2.0.0", "v1"])
def test_kubernetes_staging_version_rejects_other_versions(version: str) -> None:
    with pytest.raises(ValueError):
        gomod.kubernetes_staging_version(version)


def test_build_key_changes_with_every_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gomod, "go_version", lambda: "go1.26.8")
    spec = gomod.GoBuild(name="c", module="a.b/c", version="v1.0.0", binaries=(("c", "a.b/c"),))
    variants = [
        spec,
        gomod.GoBuild(name="c", module="a.b/c", version="v1.0.1", binaries=(("c", "a.b/c"),)),
        gomod.GoBuild(
            name="c", module="a.b/c", version="v1.0.0", binaries=(("c", "a.b/c"),), tags=("x",)
        ),
        gomod.GoBuild(
            name="c", module="a.b/c", version="v1.0.0", binaries=(("c", "a.b/c"),), cgo=True
        ),
        gomod.GoBuild(
            name="c",
            module="a.b/c",
            version="v1.0.0",
            binaries=(("c", "a.b/c"),),
            ldflags=("-X a=b",),
        ),
    ]
    keys = {v.key() for v in variants}
    assert len(keys) == len(variants)
    monkeypatch.setattr(gomod, "go_version", lambda: "go1.27.0")
    assert spec.key() not in keys
