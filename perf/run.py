"""`python -m perf`: load the release, measure, write the report, check the SLOs.

Phases (each optional, see --phases):
  main       the selected shape (--shape / PERF_SHAPE) with backend users and
             MCP agents, the MCP server's HPA on (1 -> 3); replicas and pod
             CPU/memory sampled; the SLOs in perf/slo.yaml are checked here.
  capacity   the step shape twice, MCP server pinned at 1 and then 3
             replicas (HPA off): sustained req/s at the SLO for each.
  ceiling    no-think-time runs of GET /health (the network path into the
             cluster) and POST /api/v1/tasks (the service), and the same
             writes/reads straight against PostgreSQL (direct SQLAlchemy loop
             through a port-forward): service/ceiling ratios.

Targets: the release the harness stands up (by default perf's own kind
cluster `todo-perf`, kept between runs, backend on 127.0.0.1:30081, a fresh
namespace per run; every option of the harness's table applies, with PERF_*
environment variables), the MCP server and PostgreSQL through
`kubectl port-forward` on 127.0.0.1; or `--local`: PostgreSQL and the three
servers started on loopback (no replicas to pin, no sampling).

Outputs in reports/perf/<UTC timestamp>/: Locust CSV + HTML per phase,
samples_<phase>.csv, summary.json, phases.jsonl, exit.json (the exit status below
and why), and the report (index.html,
report.md, figures/), written also when the run fails or is interrupted (what
was measured, marked incomplete); reports/index.html then links it.
Exit status: 0 all SLOs met, 1 an SLO missed (or a regression with
PERF_FAIL_ON_REGRESSION=1), 2 the run itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import settings as harness_settings
from harness.proc import HarnessError
from perf import EXIT_FILE, baseline, report, sampler, samples, shapes, slo, summary
from toolchain.progress import phases_file, step
from toolchain.tools import tool

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PHASES = ("main", "capacity", "ceiling")


class RunError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[perf {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- targets -----------------------------------------------------------------------------


@dataclass
class Target:
    """Where the load goes, and the knobs a phase can turn."""

    backend_url: str
    # Context managers: the MCP server's /mcp URL, the database's SQLAlchemy URL.
    mcp: Callable[[], contextlib.AbstractContextManager[str]]
    database: Callable[[], contextlib.AbstractContextManager[Any]]
    mcp_host_header: str | None = None
    # The web front end (FrontendUser's pages); "" leaves that user out of the mix.
    frontend_url: str = ""
    kind: str = "cluster"
    # Pin the MCP server at n replicas (HPA off), or n=None: HPA on (1..3).
    set_mcp_replicas: Callable[[int | None], None] | None = None
    # pgbench next to the database (see ceiling.run_pgbench), when available.
    pgbench: Callable[[int, float, str, int], dict] | None = None
    snapshot: Callable[[], dict] | None = None
    # component -> CPU limit (millicores) of the release's pods.
    cpu_limits: Callable[[], dict[str, float]] | None = None
    # Locust inside the cluster (`--workers N`): a perf.distributed.InCluster.
    in_cluster: Any = None
    notes: list[str] = field(default_factory=list)
    # What stood the target up and what ran (harness.stand_up.summary), for the report.
    facts: dict[str, Any] = field(default_factory=dict)


def cpu_limits(kube) -> dict[str, float]:
    """component -> the CPU limit of its (first) container, in millicores."""
    from harness.kube import cpu_millicores

    out = {}
    for workload in kube.deployments() + kube.statefulsets():
        component = workload.metadata.labels.get("app.kubernetes.io/component", "?")
        limits = workload.spec.template.spec.containers[0].resources.limits or {}
        if "cpu" in limits:
            out[component] = cpu_millicores(limits["cpu"])
    return out


@contextlib.contextmanager
def cluster_target(args: argparse.Namespace) -> Iterator[Target]:
    """The release stood up by the harness (perf's own kept kind cluster, a fresh namespace)."""
    from sqlalchemy.engine import URL

    from harness import kind, stand_up
    from harness.kube import Kube
    from harness.portforward import port_forward
    from perf import PERF_DEFAULTS, in_cluster_refusal
    from toolchain import decide

    given = {o.name: getattr(args, o.name) for o in harness_settings.OPTIONS}
    chosen = harness_settings.from_mapping(given, "PERF", PERF_DEFAULTS)
    refusal = in_cluster_refusal(chosen, args.workers)
    if refusal:
        raise RunError(refusal)
    choice = decide.current(**chosen.decision_args())
    env = stand_up.stand_up(
        chosen, choice, namespace=chosen.namespace or f"todo-perf-{stand_up.run_id()}"
    )
    release = env.release
    assert release is not None
    kube = Kube(release.kubeconfig, release.namespace, release.name)
    mcp_svc = kube.service("mcp-server")
    pg_svc = kube.service("postgresql")
    if mcp_svc is None or pg_svc is None:
        stand_up.tear_down(env)
        raise RunError("the release has no MCP server or PostgreSQL Service")

    def set_mcp_replicas(n: int | None) -> None:
        if n is None:
            sets = ["mcpServer.autoscaling.enabled=true", "mcpServer.autoscaling.minReplicas=1",
                    "mcpServer.autoscaling.maxReplicas=3"]  # fmt: skip
            want = 1
        else:
            sets = ["mcpServer.autoscaling.enabled=false", f"mcpServer.replicaCount={n}"]
            want = n
        release.upgrade(sets=sets, timeout="4m", take_over_fields=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            dep = kube.deployment("mcp-server")
            ready = (dep.status.ready_replicas or 0) if dep and dep.status else 0
            if dep and dep.spec.replicas == want and ready == want:
                return
            time.sleep(2)
        say(f"warning: MCP server did not settle at {want} ready replicas within 180 s")

    db_secret = next(
        s.metadata.name for s in kube.core.list_namespaced_secret(release.namespace).items
        if s.data and "POSTGRES_PASSWORD" in s.data
    )  # fmt: skip
    user = kube.secret_value(db_secret, "POSTGRES_USER")
    password = kube.secret_value(db_secret, "POSTGRES_PASSWORD")
    db_name = kube.secret_value(db_secret, "POSTGRES_DB")
    mcp_port = mcp_svc.spec.ports[0].port
    pg_port = pg_svc.spec.ports[0].port

    # A port-forward is bound to one pod: open it per phase, after the replicas settled,
    # so a scale-down between phases cannot leave the agent talking to a deleted pod.
    @contextlib.contextmanager
    def mcp_forward() -> Iterator[str]:
        svc = f"svc/{mcp_svc.metadata.name}"
        with port_forward(release.kubeconfig, release.namespace, svc, mcp_port) as url:
            yield f"{url}/mcp"

    @contextlib.contextmanager
    def database() -> Iterator[Any]:
        svc = f"svc/{pg_svc.metadata.name}"
        with port_forward(release.kubeconfig, release.namespace, svc, pg_port) as url:
            yield URL.create(
                "postgresql+psycopg", username=user, password=password,
                host="127.0.0.1", port=int(url.rsplit(":", 1)[1]), database=db_name,
            )  # fmt: skip

    from perf import ceiling

    pg_pod = kube.pods("postgresql")[0].metadata.name
    target = Target(
        backend_url=release.backend_url,
        frontend_url=release.frontend_url,
        mcp=mcp_forward,
        database=database,
        set_mcp_replicas=set_mcp_replicas,
        snapshot=sampler.kube_snapshot(kube),
        cpu_limits=lambda: cpu_limits(kube),
        pgbench=ceiling.run_pgbench(
            [
                str(tool("kubectl")),
                "--kubeconfig",
                str(release.kubeconfig),
                "-n",
                release.namespace,
                "exec",
                "-i",
                pg_pod,
                "-c",
                "postgresql",
                "--",
            ]
        ),  # fmt: skip
    )
    target.notes.append(
        f"cluster {env.cluster.name} ({chosen.nodes} node(s)), namespace {release.namespace}, "
        f"release {release.name}, values: {chosen.describe_values()}"
    )
    target.facts = stand_up.summary(env)
    if args.workers:
        from perf.distributed import IMAGE, InCluster

        # Loaded: the run's images were (any cluster kind cannot load into was refused).
        kind.load(env.cluster.name, [IMAGE])
        target.in_cluster = InCluster(release, kube, args.workers)
        target.in_cluster.open()
        target.notes.append(f"Locust in the cluster: a master Job and {args.workers} worker pod(s)")
    if env.cluster.is_kind:
        others = [n for n in kind.cluster_names() if n != env.cluster.name]
        if others:
            # They share the same cores: their load is noise in these figures.
            target.notes.append(f"other kind clusters running at the start: {', '.join(others)}")
    try:
        yield target
    finally:
        if target.in_cluster is not None:
            target.in_cluster.close()
        stand_up.tear_down(env)


@contextlib.contextmanager
def local_target(_: argparse.Namespace) -> Iterator[Target]:
    from harness import local, stand_up
    from perf import ceiling

    with local.stack() as stack:
        target = Target(
            pgbench=ceiling.run_pgbench([], stack.pg_env()),
            backend_url=stack.backend_url,
            frontend_url=stack.frontend_url,
            mcp=lambda: contextlib.nullcontext(stack.mcp_url),
            database=lambda: contextlib.nullcontext(stack.database_url),
            kind="local",
            facts={"commit": stand_up.commit()},
        )
        target.notes.append(
            "local: PostgreSQL and the three servers on loopback (one process each); "
            "no replicas to pin, no cluster sampling"
        )
        yield target


# --- phases ------------------------------------------------------------------------------


def run_locust(
    out: Path,
    name: str,
    target: Target,
    env: dict[str, str],
    duration: float,
    *,
    in_cluster: bool = True,
) -> list[samples.Sample]:
    """Run Locust headless (in its own process, or distributed in the cluster); the samples."""
    if target.in_cluster is not None and in_cluster:
        return samples.read(target.in_cluster.run(name, env, duration, out))
    samples_file = out / f"samples_{name}.csv"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-H", target.backend_url,
        "--csv", str(out / name), "--csv-full-history", "--html", str(out / f"{name}.html"),
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PERF_MCP_HOST_HEADER": target.mcp_host_header or "",
        "PERF_SAMPLES_FILE": str(samples_file),
        "PERF_FRONTEND_URL": target.frontend_url,
        **env,
    }
    log = out / f"{name}.log"
    say(f"phase {name}: locust for ~{duration:.0f} s ({env.get('PERF_SHAPE')}) -> {log.name}")
    uses_mcp = "McpAgent" in env.get("PERF_USERS_CLASSES", "TodoUser,McpAgent")
    mcp = target.mcp() if uses_mcp else contextlib.nullcontext("")
    with log.open("w") as fh, mcp as mcp_url:
        full_env["PERF_MCP_URL"] = mcp_url
        proc = subprocess.run(  # noqa: S603
            cmd, env=full_env, stdout=fh, stderr=subprocess.STDOUT, timeout=duration + 180
        )
    # Locust exits 1 when any request failed; the SLO check judges failures.
    if proc.returncode not in (0, 1) or not samples_file.exists():
        tail = log.read_text()[-3000:]
        raise RunError(f"locust ({name}) exited with {proc.returncode}:\n{tail}")
    return samples.read(samples_file)


def _shape_env(profile: shapes.Profile) -> dict[str, str]:
    env = {"PERF_SHAPE": profile.name}
    if isinstance(profile, shapes.Step):
        env["PERF_STEPS"] = ",".join(str(s) for s in profile.steps)
        env["PERF_STEP_SECONDS"] = str(profile.step_seconds)
    elif isinstance(profile, shapes.Constant):
        env["PERF_USERS"] = str(profile.users)
        env["PERF_DURATION"] = str(profile.seconds)
    return env


@contextlib.contextmanager
def sampling(target: Target, interval: float) -> Iterator[sampler.Sampler | None]:
    if target.snapshot is None:
        yield None
        return
    s = sampler.Sampler(target.snapshot, interval).start()
    try:
        yield s
    finally:
        s.stop()


def phase_main(args, out: Path, target: Target, rules: slo.Slo) -> dict:
    profile = shapes.from_env({**os.environ, "PERF_SHAPE": args.shape})
    if target.set_mcp_replicas:
        say("HPA on for the MCP server (1..3 replicas)")
        target.set_mcp_replicas(None)
    with sampling(target, args.sample_interval) as s:
        env = {"PERF_SHAPE": args.shape, "PERF_THINK": args.main_think}
        got = run_locust(out, "main", target, env, profile.duration)
    rows = s.rows if s else []
    endpoints = summary.endpoint_stats(got)
    compared = None
    if target.in_cluster is not None:
        # The same scenario from one process on the host, for comparison.
        if target.set_mcp_replicas:
            target.set_mcp_replicas(None)
        single = summary.endpoint_stats(
            run_locust(out, "main_single", target, env, profile.duration, in_cluster=False)
        )
        compared = {
            "workers": target.in_cluster.workers,
            "workers_connected": target.in_cluster.connected[-1],
            "distributed": _headline(endpoints),
            "single_process": _headline(single),
        }
    return {
        "distributed": compared,
        "shape": f"{profile.describe()}, think time {args.main_think} s",
        "profile": profile.name,
        "duration_s": profile.duration,
        "endpoints": endpoints,
        "steady_endpoints": summary.endpoint_stats(got, exclude=summary.SETUP_NAMES),
        "timeline": summary.timeline(got),
        "stages": summary.stage_stats(got, profile.stages()) if profile.name == "step" else [],
        "cluster": rows,
        "hpa": {
            "changes": sampler.replica_changes(rows),
            "first_at_2_s": sampler.first_time_at(rows, 2),
            "first_at_3_s": sampler.first_time_at(rows, 3),
            "desired_3_at_s": sampler.first_desired_at(rows, 3),
            "busiest_share": sampler.busiest_share(rows),
            "max_ready": max(
                (
                    ((r.get("deployments") or {}).get("mcp-server") or {}).get("ready", 0)
                    for r in rows
                ),
                default=None,
            ),
        },
        "violations": [str(v) for v in slo.check(endpoints, rules)],
    }


def _headline(endpoints: dict) -> dict:
    total = endpoints[summary.AGGREGATED]
    return {k: total[k] for k in ("requests", "rps", "p95_ms", "error_rate")}


def phase_capacity(args, out: Path, target: Target, rules: slo.Slo) -> dict:
    profile = shapes.Step(steps=tuple(args.capacity_steps), step_seconds=args.step_seconds)
    results = {}
    replica_counts = args.capacity_replicas if target.set_mcp_replicas else [1]
    for n in replica_counts:
        name = f"capacity_{n}"
        if target.set_mcp_replicas:
            say(f"pinning the MCP server at {n} replica(s), HPA off")
            target.set_mcp_replicas(n)
        env = {**_shape_env(profile), "PERF_THINK": args.capacity_think}
        with sampling(target, args.sample_interval) as s:
            got = run_locust(out, name, target, env, profile.duration)
        # New users sign up (scrypt, on purpose slow) as each step starts: skip that part.
        warmup = max(5.0, 0.3 * profile.step_seconds)
        stages = summary.stage_stats(got, profile.stages(), warmup=warmup)
        rows = s.rows if s else []
        results[name] = {
            "saturation": _first_saturated(stages, rows, target),
            "mcp_replicas": n,
            "shape": f"{profile.describe()}, think time {args.capacity_think} s",
            "stages": stages,
            "sustained": slo.sustained(stages, rules),
            "endpoints": summary.endpoint_stats(got),
            "timeline": summary.timeline(got),
            "cluster": rows,
        }
    return results


def _first_saturated(stages: list[dict], rows: list[dict], target: Target) -> dict | None:
    """Which process runs out of CPU first: the busiest, against its limit, in the highest
    load step (sampled CPU; the cluster's rows, so None without a cluster)."""
    if not rows or not stages or target.cpu_limits is None:
        return None
    top = stages[-1]
    ranked = sampler.saturation(rows, top["window"][0], top["window"][1], target.cpu_limits())
    return {"users": top["users"], "ranked": ranked} if ranked else None


def phase_ceiling(args, out: Path, target: Target) -> dict:
    from perf import ceiling

    profile = shapes.Constant(users=args.ceiling_users, seconds=args.ceiling_seconds)
    env = _shape_env(profile)
    result: dict[str, Any] = {"users": profile.users, "seconds": profile.seconds}
    for label, cls, endpoint in (
        ("health", "HealthUser", "GET /health"),
        ("create", "CreateOnlyUser", "POST /api/v1/tasks"),
    ):
        got = run_locust(
            out, f"ceiling_{label}", target, {**env, "PERF_USERS_CLASSES": cls}, profile.duration
        )
        # Skip the first seconds (users signing up) when measuring throughput.
        warm = min(5.0, profile.seconds / 4)
        stats = summary.endpoint_stats(got, warm, profile.seconds)
        result[label] = stats.get(endpoint, {"requests": 0, "rps": 0.0})
    say(f"phase ceiling: direct SQLAlchemy loop, {args.ceiling_users} threads")
    with target.database() as url:
        result["db"] = ceiling.db_ceiling(
            url, workers=args.ceiling_users, seconds=args.ceiling_seconds, pgbench=target.pgbench
        )
    h, c = result["health"], result["create"]
    insert, select_ = result["db"]["insert"], result["db"]["select"]
    bench = result["db"].get("pgbench") or {}
    bench_insert = (bench.get("insert") or {}).get("ops_per_s")
    result["ratios"] = {
        "create_vs_pgbench_insert": c["rps"] / bench_insert if bench_insert else None,
        "create_vs_db_insert": c["rps"] / insert["ops_per_s"] if insert["ops_per_s"] else None,
        "create_vs_health": c["rps"] / h["rps"] if h.get("rps") else None,
        "health_vs_db_select": h["rps"] / select_["ops_per_s"] if select_["ops_per_s"] else None,
    }
    return result


# --- summary, checks, outputs --------------------------------------------------------------


def flat_figures(phases: dict, *, min_samples: int) -> dict[str, float | None]:
    """The figures a baseline compares: "phase.figure[endpoint]" -> number.

    An endpoint called fewer than `min_samples` times (the SLO's own limit) has no
    latency figures: its p95 and p99 are its slowest few calls, and three runs' spread
    of them says nothing about the next run."""
    figs: dict[str, float | None] = {}
    main = phases.get("main")
    if main:
        for name, f in main["endpoints"].items():
            if f["requests"] < min_samples:
                continue
            for key in ("p95_ms", "p99_ms"):
                figs[f"main.{key}[{name}]"] = f[key]
        total = main["steady_endpoints"][summary.AGGREGATED]
        figs["main.rps"] = total["rps"]
        figs["main.error_rate"] = main["endpoints"][summary.AGGREGATED]["error_rate"]
        figs["main.hpa_first_at_3_s"] = main["hpa"]["first_at_3_s"]
    for key, cap in (phases.get("capacity") or {}).items():
        best = cap["sustained"] or {}
        figs[f"{key}.sustained_rps"] = best.get("rps", 0.0)
        figs[f"{key}.sustained_p95_ms"] = best.get("p95_ms")
    ceil = phases.get("ceiling")
    if ceil:
        figs["ceiling.health_rps"] = ceil["health"].get("rps")
        figs["ceiling.create_rps"] = ceil["create"].get("rps")
        figs["ceiling.create_p95_ms"] = ceil["create"].get("p95_ms")
        figs["ceiling.db_insert_ops_per_s"] = ceil["db"]["insert"]["ops_per_s"]
        figs["ceiling.db_select_ops_per_s"] = ceil["db"]["select"]["ops_per_s"]
        for op, bench in (ceil["db"].get("pgbench") or {}).items():
            figs[f"ceiling.pgbench_{op}_ops_per_s"] = bench["ops_per_s"]
        for key, value in ceil["ratios"].items():
            figs[f"ceiling.ratio_{key}"] = value
    return figs


def git_revision() -> str | None:
    try:
        return subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m perf", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--shape", default=env("PERF_SHAPE", "ramp"), choices=sorted(shapes.SHAPES),
                   help="load shape of the main phase (default ramp; env PERF_SHAPE)")  # fmt: skip
    p.add_argument("--phases", default=env("PERF_PHASES", ",".join(PHASES)),
                   help="comma-separated subset of main,capacity,ceiling")  # fmt: skip
    p.add_argument("--local", action="store_true",
                   help="PostgreSQL and the three servers on loopback, no cluster")  # fmt: skip
    from perf import PERF_DEFAULTS

    harness_settings.add_cli_options(p, "PERF", PERF_DEFAULTS)
    p.add_argument("--out", type=Path, default=None, help="report dir (default reports/perf/<ts>)")
    p.add_argument("--capacity-steps", type=lambda s: [int(x) for x in s.split(",")],
                   default=env("PERF_CAPACITY_STEPS", "5,10,20,40,60,80"))  # fmt: skip
    p.add_argument("--capacity-replicas", type=lambda s: [int(x) for x in s.split(",")],
                   default="1,3")  # fmt: skip
    p.add_argument(
        "--step-seconds", type=float, default=float(env("PERF_CAPACITY_STEP_SECONDS", "20"))
    )
    p.add_argument(
        "--main-think",
        default=env("PERF_THINK", "0.3,1.5"),
        help="think time range (s) of the main phase's users (default 0.3,1.5; env PERF_THINK)",
    )
    p.add_argument(
        "--capacity-think",
        default=env("PERF_CAPACITY_THINK", "0.2,1.0"),
        help="think time range (s) of the capacity runs' users (default 0.2,1.0)",
    )
    p.add_argument("--ceiling-users", type=int, default=int(env("PERF_CEILING_USERS", "10")))
    p.add_argument(
        "--ceiling-seconds", type=float, default=float(env("PERF_CEILING_SECONDS", "20"))
    )
    p.add_argument("--sample-interval", type=float, default=5.0)
    p.add_argument(
        "--workers",
        type=int,
        default=int(env("PERF_WORKERS") or 0),
        help="run Locust inside the cluster: a master and N workers (env PERF_WORKERS)",
    )
    p.add_argument("--slo", type=Path, default=slo.SLO_FILE)
    p.add_argument("--baseline", type=Path, default=baseline.BASELINE_FILE)
    args = p.parse_args(argv)
    if isinstance(args.capacity_steps, str):
        args.capacity_steps = [int(x) for x in args.capacity_steps.split(",")]
    if isinstance(args.capacity_replicas, str):
        args.capacity_replicas = [int(x) for x in args.capacity_replicas.split(",")]
    args.phases = [p_.strip() for p_ in args.phases.split(",") if p_.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rules = slo.load(args.slo)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "reports" / "perf" / stamp
    out.mkdir(parents=True, exist_ok=True)
    say(f"writing to {out}")
    try:
        base = baseline.load(args.baseline)
        unreadable = None
    except ValueError as exc:  # the run still counts: it may be one of those re-recording it
        base, unreadable = None, str(exc)
        say(f"warning: no comparison with the baseline: {exc}")
    meta: dict[str, Any] = {
        "timestamp": stamp,
        "started": time.time(),
        "git": git_revision(),
        "target": "local" if args.local else "cluster",
        "shape": args.shape,
        "phases_asked": list(args.phases),
        "backend_url": None,
        "notes": [],
    }
    started = time.monotonic()
    phases: dict[str, Any] = {}
    make_target = local_target if args.local else cluster_target
    try:
        with make_target(args) as target:
            meta.update(backend_url=target.backend_url, notes=target.notes,
                        bring_up=target.facts)  # fmt: skip
            if "main" in args.phases:
                with step("phase main"):
                    phases["main"] = phase_main(args, out, target, rules)
            if "capacity" in args.phases:
                with step("phase capacity"):
                    phases["capacity"] = phase_capacity(args, out, target, rules)
            if "ceiling" in args.phases:
                with step("phase ceiling"):
                    if target.set_mcp_replicas:
                        target.set_mcp_replicas(1)
                    phases["ceiling"] = phase_ceiling(args, out, target)
    except (RunError, HarnessError, subprocess.SubprocessError, OSError) as exc:
        say(f"error: {exc}")
        meta["incomplete"] = f"the run failed: {str(exc).splitlines()[0][:300]}"
    except KeyboardInterrupt:
        meta["incomplete"] = "the run was interrupted (Ctrl-C or a signal)"
        write_outputs(out, meta, phases, rules, args, base, unreadable, started)
        raise
    comparisons = write_outputs(out, meta, phases, rules, args, base, unreadable, started)
    code, reason = verdict(meta, phases, comparisons, rules)
    (out / EXIT_FILE).write_text(json.dumps({"exit_status": code, "reason": reason}) + "\n")
    return code


def verdict(meta: dict, phases: dict, comparisons: list, rules: slo.Slo) -> tuple[int, str]:
    """The run's exit status (see the module's docstring) and why, said as it is decided."""
    if meta.get("incomplete"):
        return 2, meta["incomplete"]
    violations = phases.get("main", {}).get("violations", [])
    regressions = [c for c in comparisons if c.regression]
    for c in regressions:
        say(f"regression: {c.figure}: {c.current:.4g}, baseline runs {c.low:.4g}..{c.high:.4g}")
    if violations:
        say("SLO missed:")
        for v in violations:
            say(f"  {v}")
        return 1, f"SLO missed: {'; '.join(violations)}"
    fail_regr = rules.fail_on_regression or os.environ.get("PERF_FAIL_ON_REGRESSION") == "1"
    if regressions and fail_regr:
        why = f"{len(regressions)} figure(s) fell outside the baseline's measured spread"
        say(why)
        return 1, f"{why}: {', '.join(c.figure for c in regressions)}"
    say("all SLOs met")
    return 0, "all SLOs met"


def write_outputs(out: Path, meta: dict, phases: dict, rules: slo.Slo, args, base, unreadable,
                  started: float) -> list:  # fmt: skip
    """summary.json, the run's phases and its report (index.html, report.md); the baseline
    comparisons. Also for a run that stopped early: what it measured, marked incomplete."""
    figures = flat_figures(phases, min_samples=rules.min_samples)
    meta["seconds"] = round(time.monotonic() - started, 1)
    result = {"meta": meta, "phases": phases, "figures": figures,
              "slo": {"file": str(args.slo), **dataclasses.asdict(rules)}}  # fmt: skip
    comparisons = baseline.compare(figures, base, rules.tolerance) if base else []
    result["baseline"] = {
        "file": str(args.baseline),
        "unreadable": unreadable,
        "tolerance": rules.tolerance,
        "comparisons": [c.to_dict() for c in comparisons],
    }
    (out / report.SUMMARY).write_text(json.dumps(result, indent=2, default=str) + "\n")
    copy_phases(out)
    try:
        with step("report"):
            written = report.write(out, step_summary=True)
            index = ROOT / "reports"
            if out.parent == index / "perf":  # the e2e page (or the list of runs) links it
                from e2e.report import write as write_index

                write_index(index)
        copy_phases(out)
        size = written.page.stat().st_size // 1024
        say(f"report: {written.page} ({size} KiB), {written.markdown}")
    except Exception as exc:  # noqa: BLE001 - the figures are saved; the page is a rendering
        say(f"could not write the report: {exc!r} (python -m report {out} tries again)")
    return comparisons


def copy_phases(out: Path) -> None:
    """The session's phase file (this run's timed steps) into the run's folder."""
    source = phases_file()
    if source is not None and source.exists():
        shutil.copyfile(source, out / report.PHASES)
