"""The bring-up's guards on clusters it did not create."""

from __future__ import annotations

import pytest

from harness import stand_up


@pytest.mark.parametrize("context", ["prod", "eu-production-1", "kind-prd", "live-cluster",
                                     "gke_acme_europe-west1_prod-eu"])  # fmt: skip
def test_production_like_context_names_are_recognised(context: str) -> None:
    assert stand_up.PRODUCTION_LIKE.search(context)


@pytest.mark.parametrize("context", ["kind-todo-e2e", "staging", "kind-outside", "productive-dev"])
def test_other_context_names_pass(context: str) -> None:
    assert not stand_up.PRODUCTION_LIKE.search(context)


def test_only_kind_contexts_name_a_kind_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stand_up.kind, "node_containers", lambda name: [f"{name}-control-plane"])
    assert stand_up.existing_kind_name("kind-outside") == "outside"
    assert stand_up.existing_kind_name("gke_acme") is None
    monkeypatch.setattr(stand_up.kind, "node_containers", lambda name: [])
    assert stand_up.existing_kind_name("kind-gone") is None
