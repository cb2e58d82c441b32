"""How the run's images reach a cluster's nodes, decided before anything is built or installed."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from harness import delivery
from harness.proc import HarnessError
from harness.settings import Settings
from toolchain import decide

UPSTREAM = decide.decide({"TODO_IMAGE_SOURCE": "upstream", "TODO_NETPOL_ENFORCER": "kube-router",
                          "TODO_BROWSER": "system"}, probe=None)  # fmt: skip
LOCAL = decide.decide({"TODO_IMAGE_SOURCE": "local", "TODO_NETPOL_ENFORCER": "kube-router",
                       "TODO_BROWSER": "system"}, probe=None)  # fmt: skip


def test_kind_clusters_get_their_images_loaded() -> None:
    assert delivery.plan(Settings(), is_kind=True, choice=LOCAL, addons=set()) == delivery.LOAD


def test_a_cluster_that_cannot_get_the_app_image_is_refused_naming_it_and_the_option() -> None:
    with pytest.raises(HarnessError) as refused:
        delivery.plan(Settings(kubeconfig="/k"), is_kind=False, choice=UPSTREAM, addons=set())
    message = str(refused.value)
    assert message.startswith("this cluster cannot get todo-app:dev: it was built on this machine")
    assert "--registry REG (E2E_REGISTRY)" in message


def test_offline_a_cluster_without_a_registry_is_told_of_every_image_built_here() -> None:
    with pytest.raises(HarnessError) as refused:
        delivery.plan(Settings(kubeconfig="/k"), is_kind=False, choice=LOCAL,
                      addons={"metrics-server"})  # fmt: skip
    message = str(refused.value)
    assert "todo-airgap/postgres:15-bookworm" in message and "metrics-server" in message
    assert "--push-all" in message


def test_offline_images_need_push_all_to_reach_a_registry() -> None:
    given = Settings(kubeconfig="/k", registry="registry.example.com:5000")
    with pytest.raises(HarnessError, match=r"todo-airgap/postgres.*add --push-all"):
        delivery.plan(given, is_kind=False, choice=LOCAL, addons=set())
    pushed_all = Settings(kubeconfig="/k", registry="registry.example.com", push_all=True)
    assert delivery.plan(pushed_all, is_kind=False, choice=LOCAL, addons=set()) == (
        delivery.REGISTRY
    )
    # With upstream images only the app's is built here: the registry alone serves.
    assert delivery.plan(given, is_kind=False, choice=UPSTREAM, addons=set()) == delivery.REGISTRY


def test_the_local_registry_is_for_kind_clusters_the_run_creates() -> None:
    assert delivery.plan(Settings(local_registry=True), is_kind=True, choice=LOCAL,
                         addons=set()) == delivery.LOCAL_REGISTRY  # fmt: skip
    with pytest.raises(HarnessError, match="--registry REG"):
        delivery.plan(Settings(local_registry=True, kubeconfig="/k"), is_kind=True,
                      choice=LOCAL, addons=set())  # fmt: skip
    with pytest.raises(HarnessError, match="exclude each other"):
        delivery.plan(Settings(local_registry=True, registry="r:5000"), is_kind=True,
                      choice=LOCAL, addons=set())  # fmt: skip


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("todo-app:dev", ("todo-app", "dev")),
        ("todo-airgap/postgres:15-bookworm", ("todo-airgap/postgres", "15-bookworm")),
        ("127.0.0.1:5001/docker.io/library/postgres:15-bookworm",
         ("docker.io/library/postgres", "15-bookworm")),
        ("registry.k8s.io/metrics-server/metrics-server:v0.8.0",
         ("metrics-server/metrics-server", "v0.8.0")),
        ("localhost:5001/todo-app", ("todo-app", "latest")),
    ],
)  # fmt: skip
def test_an_image_keeps_its_repository_path_in_the_registry(image, expected) -> None:
    assert delivery._repository_and_tag(image) == expected


def test_push_all_pushes_only_the_add_ons_the_run_installs(monkeypatch: pytest.MonkeyPatch) -> None:
    pushed: list[str] = []

    def push(image: str, ref: str, *, docker_config=None) -> str:
        pushed.append(image)
        return "sha256:" + "0" * 64

    monkeypatch.setattr(delivery.registry, "push", push)
    monkeypatch.setattr(delivery.registry, "content_tag", lambda image: "sha-0123")
    monkeypatch.setattr(delivery, "say", lambda message: None)
    images = LOCAL.images
    every = [images.app, images.postgres, images.metrics_server, images.kube_router]
    given = Settings(registry="reg.example.com", push_all=True)
    done = delivery.deliver(delivery.REGISTRY, cluster_name="c", choice=LOCAL, settings=given,
                            images_for_nodes=every, addons={"kube-router"})  # fmt: skip
    assert pushed == [images.app, images.postgres, images.kube_router]
    assert done.images.metrics_server == images.metrics_server  # not installed, not renamed
    assert done.images.kube_router.startswith("reg.example.com/")


def _config(tmp_path: Path, config: object) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config) if not isinstance(config, str) else config)
    return str(path)


def _pushing(registry_config: str, registry: str | None = "reg.example.com:5000/team") -> Settings:
    return Settings(kubeconfig="/k", registry=registry, registry_config=registry_config)


def test_registry_credentials_without_a_registry_are_refused() -> None:
    with pytest.raises(HarnessError, match=r"^--registry-config gives the credentials of "):
        delivery.plan(Settings(registry_config="/c.json"), is_kind=True, choice=UPSTREAM,
                      addons=set())  # fmt: skip


@pytest.mark.parametrize(
    ("config", "message"),
    [(None, "no such file"),
     ("{not json", "not a JSON Docker config file"),
     ({"auths": {"reg.example.com:5000": {}}, "credsStore": "desktop"},
      'holds no credentials for reg.example.com:5000 under "auths" (its credsStore keeps '
      "them outside the file)"),
     ({"auths": {"other.example.com": {"auth": "dTpw"}}},
      'holds no credentials for reg.example.com:5000 under "auths": ')],
)  # fmt: skip
def test_registry_credentials_the_run_cannot_use_are_refused_before_any_push(
    tmp_path: Path, config, message: str
) -> None:
    path = str(tmp_path / "missing.json") if config is None else _config(tmp_path, config)
    with pytest.raises(HarnessError) as refused:
        delivery.plan(_pushing(path), is_kind=False, choice=UPSTREAM, addons=set())
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_registry_credentials_are_found_under_the_registrys_host(tmp_path: Path) -> None:
    entry = {"auth": base64.b64encode(b"pusher:s3cret").decode()}
    path = _config(tmp_path, {"auths": {"https://reg.example.com:5000/v2/": entry,
                                        "other.example.com": {"auth": "b3RoZXI6eA=="}},
                              "credsStore": "desktop", "proxies": {"default": {}}})  # fmt: skip
    assert delivery.plan(_pushing(path), is_kind=False, choice=UPSTREAM, addons=set()) == (
        delivery.REGISTRY
    )
    assert delivery.registry_auths(_pushing(path)) == {
        "auths": {"https://reg.example.com:5000/v2/": entry}
    }
    hub = _config(tmp_path, {"auths": {"https://index.docker.io/v1/": entry}})
    assert delivery.registry_auths(_pushing(hub, registry="docker.io/me")) == {
        "auths": {"https://index.docker.io/v1/": entry}
    }


def test_pushes_use_only_the_registrys_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = {"auth": base64.b64encode(b"pusher:s3cret").decode()}
    other = {"auth": "b3RoZXI6eA=="}
    path = _config(tmp_path, {"auths": {"reg.example.com:5000": entry, "other.example.com": other}})
    seen: list[dict] = []

    def push(image: str, ref: str, *, docker_config=None) -> str:
        seen.append(json.loads(docker_config.read_text()))
        return "sha256:" + "0" * 64

    monkeypatch.setattr(delivery.registry, "push", push)
    monkeypatch.setattr(delivery.registry, "content_tag", lambda image: "sha-0123")
    monkeypatch.setattr(delivery, "say", lambda message: None)
    delivery.deliver(delivery.REGISTRY, cluster_name="c", choice=UPSTREAM,
                     settings=_pushing(path), images_for_nodes=[], addons=set())  # fmt: skip
    assert seen == [{"auths": {"reg.example.com:5000": entry}}]


def test_the_pull_secret_holds_the_registrys_credentials_alone_and_is_created_not_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = {"auth": base64.b64encode(b"puller:s3cret").decode()}
    path = _config(tmp_path, {"auths": {"reg.example.com:5000": entry,
                                        "ghcr.io": {"auth": "Z2hjcjp4"}},
                              "credsStore": "desktop", "HttpHeaders": {"X-Meta": "1"}})  # fmt: skip
    calls: list[tuple[tuple[str, ...], str | None]] = []

    def kubectl(kubeconfig, *args: str, input_text: str | None = None, **kwargs):
        calls.append((args, input_text))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(delivery, "kubectl", kubectl)
    delivery.pull_secret(Path("/k"), "todo-e2e-1", _pushing(path))
    (verb, *_), manifest = calls[0]
    assert verb == "create"
    secret = json.loads(manifest)
    assert secret["metadata"] == {"name": delivery.PULL_SECRET, "namespace": "todo-e2e-1"}
    held = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert held == {"auths": {"reg.example.com:5000": entry}}
    assert calls[1][0][:4] == ("-n", "todo-e2e-1", "patch", "serviceaccount")


def test_offline_add_ons_from_a_registry_that_needs_credentials_are_refused(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, {"auths": {"reg.example.com:5000": {"auth": "dTpw"}}})
    own_cluster = Settings(registry="reg.example.com:5000", push_all=True, registry_config=path)
    with pytest.raises(HarnessError, match=r"^the add-ons' offline images would be pulled from "):
        delivery.plan(own_cluster, is_kind=True, choice=LOCAL, addons=set())
    asked = Settings(kubeconfig="/k", install_addons=True, registry="reg.example.com:5000",
                     push_all=True, registry_config=path)  # fmt: skip
    with pytest.raises(HarnessError, match="kube-system, which gets no pull secret"):
        delivery.plan(asked, is_kind=False, choice=LOCAL, addons={"metrics-server"})
    # A cluster that keeps its add-ons, or upstream add-on images: nothing pulled from REG.
    kept = Settings(kubeconfig="/k", registry="reg.example.com:5000", push_all=True,
                    registry_config=path)  # fmt: skip
    assert delivery.plan(kept, is_kind=False, choice=LOCAL, addons=set()) == delivery.REGISTRY
    assert delivery.plan(own_cluster, is_kind=True, choice=UPSTREAM,
                         addons={"metrics-server"}) == delivery.REGISTRY  # fmt: skip
