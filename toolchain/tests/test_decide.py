"""The run's decisions: image source, images, NetworkPolicy enforcer, handed down once."""

from __future__ import annotations

import http.server
import platform
import shutil
import threading

import pytest

from toolchain import decide, versions


def _never(*_args) -> bool:
    raise AssertionError("the registry must not be probed when the override is set")


@pytest.mark.parametrize("value", ["local", "upstream", " LOCAL ", "Upstream"])
def test_override_wins_without_probing(value: str) -> None:
    got, why = decide.image_source({"TODO_IMAGE_SOURCE": value}, probe=_never)
    assert got == value.strip().lower()
    assert "TODO_IMAGE_SOURCE" in why


def test_bad_override_is_a_clear_error() -> None:
    with pytest.raises(decide.DecisionError, match="upstream.*local"):
        decide.image_source({"TODO_IMAGE_SOURCE": "dockerhub"}, probe=_never)


@pytest.mark.parametrize(("reachable", "expected"), [(True, "upstream"), (False, "local")])
def test_probe_decides_without_override(reachable: bool, expected: str) -> None:
    assert decide.image_source({}, probe=lambda url: reachable)[0] == expected


def test_any_http_answer_counts_as_reachable() -> None:
    """A registry answers /v2/ with 401; that is reachable."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v2/"
        assert decide.registry_reachable(url, timeout=3) is True
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_listening_is_unreachable() -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert decide.registry_reachable(f"http://127.0.0.1:{port}/v2/", timeout=1) is False


def test_names_per_source() -> None:
    local = decide.image_set("local")
    upstream = decide.image_set("upstream")
    assert local.node == versions.KIND_NODE_LOCAL
    assert local.python_base == "todo-airgap/python:3.11-slim-bookworm"
    assert local.postgres == "todo-airgap/postgres:15-bookworm"
    assert local.metrics_server == f"todo-airgap/metrics-server:{versions.METRICS_SERVER_VERSION}"
    assert local.kube_router == versions.KUBE_ROUTER_LOCAL
    assert local.app == "todo-app:dev"
    assert upstream.node == versions.KIND_NODE_UPSTREAM
    assert upstream.python_base == "python:3.11-slim-bookworm"
    assert upstream.postgres == "postgres:15-bookworm"
    assert upstream.metrics_server.startswith("registry.k8s.io/metrics-server/metrics-server:")
    assert upstream.kube_router == versions.KUBE_ROUTER_UPSTREAM
    with pytest.raises(decide.DecisionError):
        decide.image_set("mirror")


def test_a_kubernetes_minor_picks_its_pinned_node() -> None:
    minor, node = list(versions.KUBERNETES_MATRIX.items())[-1]
    assert decide.image_set("upstream", k8s_version=minor).node == node
    assert decide.image_set("upstream", node_image="my/node:x").node == "my/node:x"


def test_offline_refuses_a_kubernetes_it_cannot_have() -> None:
    other = next(
        m for m in versions.KUBERNETES_MATRIX if not versions.KUBERNETES_VERSION.startswith(m)
    )
    with pytest.raises(decide.DecisionError, match="needs a registry"):
        decide.image_set("local", k8s_version=other)
    with pytest.raises(decide.DecisionError, match="no node image pinned"):
        decide.image_set("local", k8s_version="v1.20")


def test_the_choice_is_made_once_and_handed_down(monkeypatch: pytest.MonkeyPatch) -> None:
    probes = []
    choice = decide.decide({"TODO_NETPOL_ENFORCER": "kindnet"},
                           probe=lambda url: probes.append(url) or False)  # fmt: skip
    assert probes == [decide.REGISTRY_PROBE_URL]
    assert (choice.source, choice.enforcer) == ("local", "kindnet")
    handed = decide.current(choice.env(), probe=_never)
    assert handed == choice


def test_helm_4_unless_the_run_asks_for_helm_3() -> None:
    assert decide.helm_major({})[0] == "4"
    assert decide.helm_major({"TODO_HELM": "3"}) == ("3", "TODO_HELM=3")
    assert decide.helm_major({"TODO_HELM": "v4"})[0] == "4"
    with pytest.raises(decide.DecisionError, match="TODO_HELM='2' is not valid"):
        decide.helm_major({"TODO_HELM": "2"})
    choice = decide.decide({"TODO_HELM": "3", "TODO_NETPOL_ENFORCER": "kindnet"},
                           probe=lambda url: False)  # fmt: skip
    assert (choice.helm, choice.helm_tool()) == ("3", "helm3")
    assert "Helm 3 (TODO_HELM=3)" in choice.describe()
    assert decide.current(choice.env(), probe=_never).helm_tool() == "helm3"
    assert decide.helm_tool("4") == "helm"


def test_an_existing_cluster_keeps_its_own_enforcer() -> None:
    choice = decide.decide({"TODO_IMAGE_SOURCE": "upstream"}, existing_cluster=True, probe=_never)
    assert choice.enforcer == "cluster"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "auto"),
        ("", "auto"),
        ("auto", "auto"),
        ("kindnet", "kindnet"),
        ("Kube-Router", "kube-router"),
        (" kube-router ", "kube-router"),
    ],
)
def test_override_values(value, expected):
    environ = {} if value is None else {decide.ENV_ENFORCER: value}
    assert (decide.enforcer_override(environ) or "auto") == expected


def test_override_rejects_unknown_value_naming_the_choices():
    with pytest.raises(decide.DecisionError, match="calico.*auto, kindnet, kube-router"):
        decide.enforcer_override({decide.ENV_ENFORCER: "calico"})


@pytest.mark.parametrize(
    ("override", "queue", "config", "expected"),
    [
        ("kindnet", False, False, "kindnet"),
        ("kube-router", True, True, "kube-router"),
        ("auto", True, None, "kindnet"),
        ("auto", False, None, "kube-router"),
        ("auto", True, False, "kindnet"),  # a real load beats the config file
        ("auto", None, True, "kindnet"),
        ("auto", None, False, "kube-router"),
        ("auto", None, None, "kube-router"),
    ],
)
def test_decision_table(override, queue, config, expected):
    override = None if override == "auto" else override
    enforcer, reason = decide.decide_enforcer(override, "upstream", queue, config)
    assert enforcer == expected
    assert reason


@pytest.mark.parametrize("queue", [True, False, None])
def test_local_images_always_need_kube_router(queue):
    assert decide.decide_enforcer(None, "local", queue, queue)[0] == "kube-router"
    assert decide.decide_enforcer("kindnet", "local", queue, queue)[0] == "kindnet"


def _boom(*args, **kwargs):
    raise AssertionError("the kernel must not be probed here")


def test_local_images_and_overrides_skip_the_probe(monkeypatch):
    monkeypatch.setattr(decide, "probe_nft_queue", _boom)
    monkeypatch.setattr(decide, "kernel_config_nft_queue", _boom)
    assert decide.enforcer({}, "local")[0] == "kube-router"
    assert decide.enforcer({decide.ENV_ENFORCER: "kindnet"}, "local")[0] == "kindnet"
    assert decide.enforcer({decide.ENV_ENFORCER: "kube-router"}, "upstream")[0] == "kube-router"


def test_auto_uses_probe_then_kernel_config(monkeypatch):
    monkeypatch.setattr(decide, "probe_nft_queue", lambda: (True, "loaded"))
    assert decide.enforcer({}, "upstream")[0] == "kindnet"
    monkeypatch.setattr(decide, "probe_nft_queue", lambda: (False, "refused"))
    assert decide.enforcer({}, "upstream")[0] == "kube-router"
    monkeypatch.setattr(decide, "probe_nft_queue", lambda: (None, "no nft"))
    monkeypatch.setattr(decide, "kernel_config_nft_queue", lambda: True)
    assert decide.enforcer({}, "upstream")[0] == "kindnet"
    monkeypatch.setattr(decide, "kernel_config_nft_queue", lambda: False)
    assert decide.enforcer({}, "upstream")[0] == "kube-router"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CONFIG_NF_TABLES=y\nCONFIG_NFT_QUEUE=y\n", True),
        ("CONFIG_NFT_QUEUE=m\n", True),
        ("CONFIG_NFT_CT=y\n# CONFIG_NFT_QUEUE is not set\n", False),
        ("CONFIG_NFT_CT=y\n", None),
    ],
)
def test_kernel_config_parsing(text, expected):
    assert decide.kernel_config_nft_queue(text) is expected


def test_real_probe_agrees_with_kernel_config():
    """The probe really loads rules in a throwaway netns; it must match the kernel's config."""
    supported, how = decide.probe_nft_queue()
    config = decide.kernel_config_nft_queue()
    if platform.system() == "Linux" and shutil.which("nft") and shutil.which("unshare"):
        assert supported is not None, how
    if supported is not None and config is not None:
        assert supported is config, how
    assert how


# --- the mirror ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("postgres:15-bookworm", ("docker.io", "library/postgres", ":15-bookworm")),
        ("kindest/node:v1.34.0@sha256:ab", ("docker.io", "kindest/node", ":v1.34.0@sha256:ab")),
        ("registry.k8s.io/metrics-server/metrics-server:v0.8.0",
         ("registry.k8s.io", "metrics-server/metrics-server", ":v0.8.0")),
        ("docker.io/cloudnativelabs/kube-router:v2.1.0",
         ("docker.io", "cloudnativelabs/kube-router", ":v2.1.0")),
        ("localhost:5001/todo-app", ("localhost:5001", "todo-app", "")),
    ],
)  # fmt: skip
def test_references_are_read_as_docker_reads_them(ref, expected) -> None:
    assert decide.split_reference(ref) == expected


def test_every_upstream_image_is_named_through_the_mirror_one_prefix_per_source() -> None:
    mirror = decide.Mirror.from_env(
        {"TODO_IMAGE_MIRROR": "harbor.example.com/cache/",
         "TODO_IMAGE_MIRROR_PREFIXES": "docker.io=dockerhub"}
    )  # fmt: skip
    images = decide.image_set("upstream", mirror=mirror)
    cache = "harbor.example.com/cache"
    assert images.python_base == f"{cache}/dockerhub/library/python:3.11-slim-bookworm"
    assert images.postgres == "harbor.example.com/cache/dockerhub/library/postgres:15-bookworm"
    assert images.metrics_server == (
        "harbor.example.com/cache/registry.k8s.io/metrics-server/metrics-server:v0.8.0"
    )
    assert images.node.startswith("harbor.example.com/cache/dockerhub/kindest/node:")
    assert "@sha256:" in images.node  # the pin goes through the mirror unchanged
    assert decide.image_set("local", mirror=mirror) == decide.image_set("local")
    given = decide.image_set("upstream", node_image="kindest/node:v1.35.8@sha256:ab", mirror=mirror)
    assert given.node == f"{cache}/dockerhub/kindest/node:v1.35.8@sha256:ab"  # the workflow's


@pytest.mark.parametrize(
    ("address", "prefixes", "message"),
    [
        ("https://mirror.example.com", "", "without a scheme"),
        ("mirror.example.com", "dockerhub", "source=prefix"),
        ("mirror.example.com", "gcr.io=gcr", "source=prefix"),
    ],
)
def test_a_malformed_mirror_is_refused_saying_how_to_write_it(address, prefixes, message) -> None:
    with pytest.raises(decide.DecisionError, match=message):
        decide.Mirror.from_env({"TODO_IMAGE_MIRROR": address,
                                "TODO_IMAGE_MIRROR_PREFIXES": prefixes})  # fmt: skip


def test_with_a_mirror_the_probe_asks_the_mirror_not_docker_hub() -> None:
    asked: list[str] = []
    choice = decide.decide(
        {"TODO_IMAGE_MIRROR": "127.0.0.1:5999", "TODO_NETPOL_ENFORCER": "kube-router"},
        probe=lambda url: asked.append(url) or url.startswith("http://"),
    )
    assert asked == ["https://127.0.0.1:5999/v2/", "http://127.0.0.1:5999/v2/"]
    assert (choice.source, choice.mirror) == ("upstream", "127.0.0.1:5999")
    assert choice.images.postgres == "127.0.0.1:5999/docker.io/library/postgres:15-bookworm"
    assert decide.RunChoice.from_json(choice.to_json()) == choice


NODE_TAG = versions.KIND_NODE_UPSTREAM.split("@")[0].rsplit(":", 1)[1]


class _ManifestHead(http.server.BaseHTTPRequestHandler):
    """A registry that serves one tag's manifest digest, as a stand-in mirror would."""

    def do_HEAD(self) -> None:  # noqa: N802 - the handler API
        if self.path == f"/v2/docker.io/kindest/node/manifests/{NODE_TAG}":
            self.send_response(200)
            self.send_header("Docker-Content-Digest", "sha256:" + "b" * 64)
        else:
            self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_stand_in_mirror_replaces_the_pin_with_the_digest_it_serves_and_says_so() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _ManifestHead)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    env = {"TODO_IMAGE_SOURCE": "upstream", "TODO_IMAGE_MIRROR": address,
           "TODO_NETPOL_ENFORCER": "kube-router"}  # fmt: skip
    try:
        pinned = decide.decide(env, node_image=None, probe=_never)
        assert pinned.images.node.endswith(versions.KIND_NODE_UPSTREAM.split("@")[1])
        assert pinned.mirror_notes == ()
        stand_in = decide.decide({**env, "TODO_STAND_IN_MIRROR": "1"}, probe=_never)
    finally:
        server.shutdown()
    assert stand_in.images.node == f"{address}/docker.io/kindest/node:{NODE_TAG}@sha256:{'b' * 64}"
    assert len(stand_in.mirror_notes) == 1 and "replaced" in stand_in.mirror_notes[0]
    assert "STAND-IN MIRROR" in stand_in.describe()
