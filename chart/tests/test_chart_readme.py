"""The values table in chart/todo-app/README.md is generated from values.yaml and current."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from chartlib import CHART, FULLNAME, REPO, Rendered, render_error

TOOL = REPO / "chart" / "tools" / "gen_values_table.py"


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False
    )


def test_readme_values_table_is_current() -> None:
    proc = run_tool("--check")
    assert proc.returncode == 0, proc.stderr


def test_stale_readme_is_detected(tmp_path: Path) -> None:
    chart = tmp_path / "todo-app"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("logLevel: INFO", "logLevel: DEBUG"))
    proc = run_tool("--check", "--chart", str(chart))
    assert proc.returncode == 1
    assert "stale" in proc.stderr
    assert run_tool("--chart", str(chart)).returncode == 0  # regenerate
    assert run_tool("--check", "--chart", str(chart)).returncode == 0
    assert '`"DEBUG"`' in (chart / "README.md").read_text()


def test_undocumented_key_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "todo-app"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "\nsneaky:\n  key: 1\n")
    proc = run_tool("--check", "--chart", str(chart))
    assert proc.returncode == 1
    assert "sneaky.key" in proc.stderr


def test_every_values_key_is_in_the_table() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for group in values:
        assert f"`{group}" in readme, group


# --- what the prose of README.md says, checked against what the chart renders -------------

# Each app process, by its component name and by what the documentation calls it.
PROCESSES = {"frontend": "front end", "backend": "backend", "mcp-server": "MCP server"}


def _readme_section(heading: str) -> str:
    """The text of README.md from a bold paragraph title or a heading to the next one."""
    readme = (CHART / "README.md").read_text()
    start = readme.index(heading)
    ends = [i for i in (readme.find("\n**", start + 1), readme.find("\n#", start + 1)) if i > 0]
    return " ".join(readme[start : min(ends)].split())


def _process_env(r: Rendered, component: str) -> dict[str, str]:
    """The plain environment one app process starts with: its container's env and the
    ConfigMaps it takes whole (envFrom)."""
    pod = r.get("Deployment", f"{FULLNAME}-{component}")["spec"]["template"]["spec"]
    [c] = [c for c in pod["containers"] if c["name"] == component]
    env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env.update(r.get("ConfigMap", source["configMapRef"]["name"])["data"])
    return env


def test_the_refusal_to_invent_secrets_is_documented_with_everything_it_names(
    helm: Path, render_dir: Path
) -> None:
    message = " ".join(render_error(helm, render_dir, secrets=False).split())
    values, own = re.search(
        r"Set (.+?) to values you keep, or create the Secrets yourself and set (.+?), or render",
        message,
    ).groups()
    named = [v.strip() for v in values.split(",")]
    named += [part.strip() for part in own.split(" and ") if part.strip()]
    assert "frontend.sessionSecret" in named  # the front end is on by default
    prose = _readme_section("**Secrets and render-only tools.**")
    table = _readme_section("### What the chart refuses, and why")
    for name in named:
        for words in name.split(" with "):  # "x.secret.create=false with x.secret.name"
            assert words in prose, f"{words} missing from 'Secrets and render-only tools'"
            assert words in table, f"{words} missing from the refusal table"


def test_every_created_credential_and_checksum_is_in_the_secrets_paragraph(
    default: Rendered,
) -> None:
    prose = _readme_section("**Configuration and secrets.**")
    for value in ("database.password", "auth.jwtSecret", "auth.mcpServiceToken"):
        assert f"`{value}`" in prose, value
    assert "`frontend.sessionSecret`" in prose
    annotations = {
        key
        for workload in default.workloads()
        for key in workload["spec"]["template"]["metadata"].get("annotations", {})
        if key.startswith("checksum/")
    }
    assert "checksum/session-secret" in annotations
    for key in annotations:
        assert f"`{key}`" in prose, key


def test_each_shared_setting_names_the_processes_it_reaches(default: Rendered) -> None:
    """An `app.*` value's documentation names every process given its variable."""
    docs = _values_docs()
    envs = {component: _process_env(default, component) for component in PROCESSES}
    for key in yaml.safe_load((CHART / "values.yaml").read_text())["app"]:
        text = docs[("app", key)]
        variable = re.search(r"`([A-Z][A-Z0-9_]+)`", text)
        assert variable, f"app.{key}: its documentation names no variable"
        reached = [c for c, env in envs.items() if variable[1] in env]
        assert reached, f"app.{key}: {variable[1]} reaches no process"
        for component in reached:
            assert PROCESSES[component] in text, f"app.{key} does not name the {component}"
        assert "both processes" not in text and "either process" not in text, f"app.{key}"


def _values_docs() -> dict[tuple[str, ...], str]:
    spec = importlib.util.spec_from_file_location("gen_values_table", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.documented_keys((CHART / "values.yaml").read_text())
