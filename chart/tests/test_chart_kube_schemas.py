"""Every rendered object of every matrix case validates against the Kubernetes OpenAPI
schemas of every Kubernetes minor the project runs on (toolchain/versions.py: the
supported minors and the extended-support one), offline. An API version a minor removed
has no schema there and fails the test, before any user meets it.

The schemas are the JSON Schema conversions shipped in the `kubernetes-validate` wheel
(`<package>/kubernetes-json-schema/v<version>-local-strict/`), in their strict form:
unknown fields are errors, as `kubectl apply --validate=strict` would make them.
Loading and compiling each schema once keeps the run short; `kubernetes_validate`'s own
`validate()` is used as a cross-check on one object per version.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from chartlib import MATRIX, Rendered
from importlib_resources import files
from referencing import Registry, Resource

from toolchain import versions

KUBE_VERSIONS = tuple(minor.removeprefix("v") for minor in versions.KUBERNETES_MATRIX)
SCHEMAS = files("kubernetes_validate") / "kubernetes-json-schema"


def schema_dir(version: str) -> Any:
    return SCHEMAS / f"v{version}.0-local-strict"


@cache
def definitions(version: str) -> Resource:
    text = (schema_dir(version) / "_definitions.json").read_text()
    return Resource.from_contents(json.loads(text))


@cache
def validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    # kubernetes_validate's file naming: apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = schema_dir(version) / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        pytest.fail(f"no schema for {api_version} {kind} in Kubernetes {version}", pytrace=False)
    schema = json.loads(path.read_text())
    registry = Resource.from_contents(schema) @ (definitions(version) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def errors(doc: dict[str, Any], version: str) -> list[str]:
    v = validator(version, doc["apiVersion"], doc["kind"])
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in v.iter_errors(doc)
    ]


def test_versions_are_shipped() -> None:
    for version in KUBE_VERSIONS:
        assert schema_dir(version).is_dir(), f"kubernetes-validate lacks schemas for {version}"


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_rendered_objects_match_kubernetes_schemas(
    case: str, matrix: dict[str, Rendered], capsys: pytest.CaptureFixture[str]
) -> None:
    docs = matrix[case].docs
    assert docs, case
    problems = [
        f"{d['kind']}/{d['metadata']['name']} vs {version}: {msg}"
        for d in docs
        for version in KUBE_VERSIONS
        for msg in errors(d, version)
    ]
    assert not problems, "\n".join(problems)
    with capsys.disabled():
        count = len(docs) * len(KUBE_VERSIONS)
        print(
            f"\n  [{case}] {len(docs)} objects x {len(KUBE_VERSIONS)} Kubernetes versions "
            f"({', '.join(KUBE_VERSIONS)}) = {count} validations, 0 errors"
        )


def test_total_validated(matrix: dict[str, Rendered], capsys: pytest.CaptureFixture[str]) -> None:
    objects = sum(len(r.docs) for r in matrix.values())
    kinds = sorted({d["kind"] for r in matrix.values() for d in r.docs})
    assert objects >= 100, objects
    with capsys.disabled():
        print(
            f"\n  schema-validated: {objects} rendered objects ({len(matrix)} value cases; "
            f"kinds {', '.join(kinds)}) x {len(KUBE_VERSIONS)} Kubernetes versions "
            f"{', '.join(KUBE_VERSIONS)} = {objects * len(KUBE_VERSIONS)} validations"
        )


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_cross_check_with_kubernetes_validate(version: str, default: Rendered) -> None:
    """The library's own entry point agrees on a real object (and still loads these files)."""
    deployment = default.of_kind("Deployment")[0]
    assert kubernetes_validate.validate(deployment, version, strict=True) == version


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_validation_can_fail(version: str, default: Rendered) -> None:
    """A wrong type and an unknown field are reported: the check is not a no-op."""
    bad = json.loads(json.dumps(default.of_kind("Deployment")[0]))
    bad["spec"]["replicas"] = "two"
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    found = errors(bad, version)
    assert any("spec.replicas" in e for e in found), found
    assert any("livenessProbes" in e for e in found), found
