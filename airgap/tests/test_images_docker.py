# ruff: noqa: S108 - "/tmp" here is a path inside the test containers
"""The locally built images behave like the upstream ones the harness would pull.

Needs a Docker engine and the images (`python -m airgap images`); marked
`docker` and run by `nox -s e2e` on the offline path, after the build. Containers are
named `todo-airgap-test-*` and removed at the end.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolchain import decide, versions
from toolchain import docker as docker_images
from toolchain.kindmod import KindModule, docker_name

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
LOCAL = decide.image_set("local")
# A password with every character a hand-built URL or shell would trip over.
PASSWORD = "p@ss w:rd/?#%'\"$x"  # noqa: S105 - a test credential


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        ["docker", *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


@pytest.fixture(scope="module", autouse=True)
def engine() -> None:
    if decide.current().source != "local":
        pytest.skip("not applicable: this run uses the upstream images, nothing was built here")
    info = docker("info", "--format", "{{.ServerVersion}}", check=False)
    assert info.returncode == 0, (
        "no Docker engine: run `python -m airgap docker` (or `nox -s airgap`) first\n" + info.stderr
    )


def require(image: str) -> str:
    got = docker("image", "inspect", image, check=False)
    assert got.returncode == 0, f"{image} missing: run `python -m airgap images` first"
    return image


@pytest.fixture
def containers() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", "-v", name, check=False)


def _name(containers: list[str], role: str) -> str:
    name = f"todo-airgap-test-{role}-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    return name


# --- python base -------------------------------------------------------------------------


def test_python_base_runs_python_311_with_venv_and_pip() -> None:
    script = (
        "set -e; python --version; python3 --version; "
        "python3 -m venv /tmp/venv && /tmp/venv/bin/python -m pip --version; "
        "python -c 'import ssl, sqlite3, json; print(ssl.OPENSSL_VERSION)'"
    )
    # As an arbitrary non-root UID with a read-only root, like the app image runs.
    got = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--user", "10001:10001",
        require(LOCAL.python_base), "sh", "-c", script,
    )  # fmt: skip
    lines = got.stdout.splitlines()
    assert lines[0].startswith("Python 3.11.") and lines[1].startswith("Python 3.11.")
    assert "pip " in got.stdout and "OpenSSL" in got.stdout


def test_python_base_has_apt_and_a_ca_bundle_for_the_build_stage() -> None:
    got = docker("run", "--rm", "--user", "0", require(LOCAL.python_base), "sh", "-c",
                 "apt-get --version | head -1; test -s /etc/ssl/certs/ca-certificates.crt "
                 "&& echo bundle; echo \"$LANG\"")  # fmt: skip
    lines = got.stdout.splitlines()
    assert lines[0].startswith("apt ") and lines[1:] == ["bundle", "C.UTF-8"], got.stdout


def test_python_base_has_recipe_label() -> None:
    assert docker_images.image_label(LOCAL.python_base)


# --- postgres ----------------------------------------------------------------------------


def _start_postgres(name: str, *extra: str, env: dict[str, str] | None = None) -> None:
    env = env if env is not None else {
        "POSTGRES_PASSWORD": PASSWORD,
        "POSTGRES_USER": "todo",
        "POSTGRES_DB": "todo_db",
    }  # fmt: skip
    args = ["run", "-d", "--name", name, *extra]
    require(LOCAL.postgres)
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    docker(*args, LOCAL.postgres)


def _ip(name: str) -> str:
    return docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()


def _psql(host: str, password: str, sql: str, user: str = "todo", db: str = "todo_db"):
    """Connect over TCP from a separate client container (psql from the same image)."""
    return docker(
        "run", "--rm", "-e", f"PGPASSWORD={password}", "--entrypoint", "psql", LOCAL.postgres,
        "-h", host, "-U", user, "-d", db, "-tAc", sql, check=False,
    )  # fmt: skip


def _wait_ready(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
        assert state == "true", docker("logs", name, check=False).stderr
        # -U as the chart's probes: a UID without a passwd entry has no user name of its own.
        ready = docker("exec", name, "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-q",
                       check=False)  # fmt: skip
        if ready.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} not ready:\n{docker('logs', name, check=False).stderr}")


def test_postgres_accepts_its_credentials_read_only_root(containers: list[str]) -> None:
    name = _name(containers, "pg")
    # How the chart runs it: read-only root, emptyDirs for the socket dir and /tmp.
    _start_postgres(name, "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/run/postgresql")
    _wait_ready(name)
    host = _ip(name)
    got = _psql(host, PASSWORD, "select current_user || ' ' || current_database()")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "todo todo_db"
    wrong = _psql(host, "not-the-password", "select 1")
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr
    # PID 1 is postgres itself (signals reach it), running as UID 999.
    assert docker("exec", name, "cat", "/proc/1/comm").stdout.strip() == "postgres"
    assert docker("exec", name, "id", "-u").stdout.strip() == "999"
    settings = _psql(host, PASSWORD, "show password_encryption").stdout.strip()
    assert settings == "scram-sha-256"
    # Built without the LLVM JIT: a query costly enough to ask for it runs without it.
    jit = _psql(host, PASSWORD, "set jit_above_cost = 0; "
                "select pg_jit_available(), sum(i) from generate_series(1, 1000) i")  # fmt: skip
    assert (jit.returncode, jit.stdout.split()) == (0, ["SET", "f|500500"]), jit.stderr


def _chart_initdb_args() -> str:
    """POSTGRES_INITDB_ARGS as the chart's StatefulSet sets it."""
    template = (ROOT / "chart/todo-app/templates/postgresql/statefulset.yaml").read_text()
    found = re.search(r"name: POSTGRES_INITDB_ARGS\s+value: \"([^\"]+)\"", template)
    assert found, "the chart no longer sets POSTGRES_INITDB_ARGS"
    return found.group(1)


def _psql_inside(name: str, password: str, *where: str):
    """psql inside the server's own container: over the socket, or -h 127.0.0.1."""
    return docker("exec", "-e", f"PGPASSWORD={password}", name, "psql", *where, "-U", "todo",
                  "-d", "todo_db", "-tAc", "select 1", check=False)  # fmt: skip


def test_postgres_trusts_socket_and_loopback_unless_initdb_args_say_otherwise(
    containers: list[str],
) -> None:
    """As the official image: initdb's own defaults (trust) for the socket and loopback,
    the password for every other host."""
    name = _name(containers, "pg")
    _start_postgres(name)
    _wait_ready(name)
    for where in ((), ("-h", "127.0.0.1")):
        trusted = _psql_inside(name, "not-the-password", *where)
        assert (trusted.returncode, trusted.stdout.strip()) == (0, "1"), (where, trusted.stderr)
    refused = _psql(_ip(name), "not-the-password", "select 1")
    assert "password authentication failed" in refused.stderr


def test_postgres_with_the_charts_initdb_args_asks_every_connection_for_the_password(
    containers: list[str],
) -> None:
    name = _name(containers, "pg")
    env = {"POSTGRES_PASSWORD": PASSWORD, "POSTGRES_USER": "todo", "POSTGRES_DB": "todo_db",
           "POSTGRES_INITDB_ARGS": _chart_initdb_args()}  # fmt: skip
    _start_postgres(name, "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/run/postgresql",
                    env=env)  # fmt: skip
    _wait_ready(name)
    for where in ((), ("-h", "127.0.0.1")):
        wrong = _psql_inside(name, "not-the-password", *where)
        assert "password authentication failed" in wrong.stderr, (where, wrong.stdout)
        right = _psql_inside(name, PASSWORD, *where)
        assert right.stdout.strip() == "1", (where, right.stderr)
    collation = _psql(_ip(name), PASSWORD, "select datcollate || ' ' || pg_encoding_to_char("
                      "encoding) from pg_database where datname = 'todo_db'")  # fmt: skip
    assert collation.stdout.strip() == "C.UTF-8 UTF8", collation.stderr


def test_postgres_initialises_as_a_uid_without_a_passwd_entry(containers: list[str]) -> None:
    """A pod's securityContext may pick any UID: initdb gets a passwd entry from
    nss_wrapper, as in the official image."""
    name = _name(containers, "pg")
    _start_postgres(name, "--user", "4242:4242", "--read-only", "--tmpfs", "/tmp",
                    "--tmpfs", "/var/run/postgresql:uid=4242,gid=4242",
                    "--tmpfs", "/var/lib/postgresql/data:uid=4242,gid=4242",
                    "-e", "PGDATA=/var/lib/postgresql/data/pgdata")  # fmt: skip
    _wait_ready(name)
    got = _psql(_ip(name), PASSWORD, "select current_user")
    assert got.stdout.strip() == "todo", got.stderr
    assert docker("exec", name, "stat", "-c", "%u", "/proc/1").stdout.strip() == "4242"


def test_postgres_keeps_data_and_stops_cleanly(containers: list[str]) -> None:
    name = _name(containers, "pg")
    volume = f"{name}-data"
    containers.append(volume)  # removed with the container (-v) or below
    _start_postgres(name, "-v", f"{volume}:/var/lib/postgresql/data")
    _wait_ready(name)
    created = _psql(_ip(name), PASSWORD, "create table t (v text); insert into t values ('kept')")
    assert created.returncode == 0, created.stderr
    started = time.monotonic()
    docker("stop", "-t", "30", name)
    assert time.monotonic() - started < 15, "SIGINT should stop postgres quickly"
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    assert "database system is shut down" in docker("logs", name).stderr
    docker("start", name)
    _wait_ready(name)
    got = _psql(_ip(name), PASSWORD, "select v from t")
    assert got.stdout.strip() == "kept", got.stderr
    # Second start must not initialise again.
    assert docker("logs", name).stderr.count("initialising") == 1
    docker("rm", "-f", name)
    docker("volume", "rm", volume, check=False)


def test_postgres_started_as_root_drops_to_postgres(containers: list[str]) -> None:
    name = _name(containers, "pg")
    _start_postgres(name, "--user", "0")
    _wait_ready(name)
    assert docker("exec", name, "stat", "-c", "%u", "/proc/1").stdout.strip() == "999"
    assert docker("exec", name, "stat", "-c", "%u", "/var/lib/postgresql/data").stdout.strip() == (
        "999"
    )


def test_postgres_without_password_refuses_clearly(containers: list[str]) -> None:
    name = _name(containers, "pg")
    _start_postgres(name, env={"POSTGRES_USER": "todo"})
    docker("wait", name, timeout=60)
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() != "0"
    assert "POSTGRES_PASSWORD" in docker("logs", name).stderr


# --- metrics-server and kind's CNI/storage images ------------------------------------------


def test_metrics_server_binary_runs_as_nobody() -> None:
    got = docker("image", "inspect", "--format", "{{.Config.User}}", require(LOCAL.metrics_server))
    assert got.stdout.strip() == "65534:65534"
    helped = docker("run", "--rm", LOCAL.metrics_server, "--help", check=False)
    assert "--kubelet-insecure-tls" in helped.stdout + helped.stderr


def _manifest_flags(name: str) -> list[str]:
    """The `--flag` names a harness manifest passes in its containers' args."""
    text = (ROOT / "harness" / "manifests" / name).read_text()
    return sorted(set(re.findall(r"^\s+- (--[a-z0-9-]+)", text, re.MULTILINE)))


def test_metrics_server_takes_every_flag_the_manifest_gives() -> None:
    helped = docker("run", "--rm", require(LOCAL.metrics_server), "--help", check=False)
    text = helped.stdout + helped.stderr
    flags = _manifest_flags("metrics-server.yaml")
    assert "--kubelet-insecure-tls" in flags
    assert [f for f in flags if f not in text] == []


def test_kube_router_takes_every_flag_the_manifest_gives() -> None:
    helped = docker("run", "--rm", "--entrypoint", "/usr/local/bin/kube-router",
                    require(LOCAL.kube_router), "--help", check=False)  # fmt: skip
    text = helped.stdout + helped.stderr
    flags = _manifest_flags("kube-router.yaml")
    assert "--run-firewall" in [f.split("=")[0] for f in flags]
    assert [f for f in flags if f.split("=")[0] not in text] == []


def test_kube_router_has_both_iptables_backends_ipset_and_conntrack() -> None:
    tools = ("iptables-nft-save", "iptables-legacy-save", "ip6tables-nft", "ipset", "conntrack",
             "update-alternatives")  # fmt: skip
    got = docker("run", "--rm", "--entrypoint", "sh", require(LOCAL.kube_router), "-c",
                 f"id -u; for t in {' '.join(tools)}; do command -v $t >/dev/null && echo $t; "
                 "done")  # fmt: skip
    assert got.stdout.split() == ["0", *tools]


def test_the_node_image_has_the_tools_the_harness_runs_in_it() -> None:
    """curl (metrics-server's ClusterIP probe), crictl (the API server's restart), and the
    CRI registry section kind's config_path patch lands in (--local-registry)."""
    got = docker("run", "--rm", "--entrypoint", "sh", require(LOCAL.node), "-c",
                 "for t in curl crictl containerd kubeadm kubelet; do command -v $t; done; "
                 "grep -c 'io.containerd.grpc.v1.cri' /etc/containerd/config.toml")  # fmt: skip
    lines = got.stdout.split()
    assert [Path(p).name for p in lines[:-1]] == ["curl", "crictl", "containerd", "kubeadm",
                                                  "kubelet"], got.stdout  # fmt: skip
    assert int(lines[-1]) > 0


def test_kind_cni_and_storage_images_exist_under_kinds_names() -> None:
    kind = KindModule.pinned()
    refs = {
        "kindnetd": kind.image("kindnetdImage"),
        "local-path-provisioner": kind.image("storageProvisionerImage"),
        "local-path-helper": kind.image("storageHelperImage"),
    }
    for key in ("kindnetd", "local-path-provisioner", "local-path-helper"):
        require(docker_name(refs[key]))
    helper = docker_name(refs["local-path-helper"])
    got = docker(
        "run", "--rm", helper, "sh", "-c",
        "set -eu; mkdir -m 0777 -p /tmp/vol/a && rm -rf /tmp/vol && echo done",
    )  # fmt: skip
    assert got.stdout.strip() == "done"
    kindnetd = docker("run", "--rm", docker_name(refs["kindnetd"]), check=False)
    assert kindnetd.returncode != 0 and "HOST_IP" in kindnetd.stderr
    for tool in ("iptables-nft-restore", "ip6tables-legacy-save", "ip"):
        found = docker(
            "run", "--rm", "--entrypoint", "sh", docker_name(refs["kindnetd"]),
            "-c", f"command -v {tool}", check=False,
        )  # fmt: skip
        assert found.returncode == 0, tool
    lpp = docker_name(refs["local-path-provisioner"])
    helped = docker("run", "--rm", lpp, "--help", check=False)
    assert "start" in helped.stdout + helped.stderr
    assert versions.LOCAL_PATH_PROVISIONER_VERSION
