"""Property-based fuzzing of both live OpenAPI schemas (schemathesis): no 5xx, no schema drift.

Every documented operation gets generated positive and negative inputs; each
response goes through schemathesis' checks (server errors, status codes,
content types, response bodies and headers against the schema, and more).
The counts are written to `<basetemp>/schemathesis-<app>.json` and printed.

Driven through schemathesis' Python API (`as_strategy` + Hypothesis) rather than
its lazy pytest fixture loader, which depends on pytest internals.

One answer to schema-valid data is a refusal by design: the generator reuses
Idempotency-Key values with other bodies, which the API refuses with 422
(`idempotency_key_reused`). Only that answer is excused from the "valid data is
accepted" check; it is counted in the summary.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from harness.local import Server
from hypothesis import HealthCheck, given
from schemathesis.checks import positive_data_acceptance

from tests.conftest import SERVICE_TOKEN, User

MAX_EXAMPLES = 40  # per operation and generation mode: the whole file runs in about a minute
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs every run, so a failure here reproduces
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # report, don't shrink
)


def fuzz(server: Server, headers: dict[str, str], tmp_path_factory, app: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    statuses: Counter[int] = Counter()
    key_reuses = 0
    failures: list[str] = []
    no_negative: list[str] = []
    operations = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in schemathesis.GenerationMode:

                @SETTINGS
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: schemathesis.Case) -> None:
                    nonlocal key_reuses
                    response = case.call(session=session, headers=headers)
                    statuses[response.status_code] += 1
                    excused = []
                    if refuses_a_reused_key(response):
                        key_reuses += 1
                        excused.append(positive_data_acceptance)
                    case.validate_response(response, headers=headers, excluded_checks=excused)

                try:
                    run()
                except hypothesis.errors.Unsatisfiable:
                    # No input of this operation can break the schema (e.g. GET /health has
                    # no parameters), so there is no negative case to send.
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                    no_negative.append(operation.label)
                except Exception as exc:  # collect every operation's failure, then report all
                    failures.append(f"{operation.label} [{mode.value}]: {exc}")
    summary = {
        "operations": operations,
        "calls": sum(statuses.values()),
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
        "statuses": dict(sorted(statuses.items())),
        "idempotency_key_reuses_refused": key_reuses,
        "failures": len(failures),
        "operations_without_negative_cases": no_negative,
    }
    path = tmp_path_factory.getbasetemp() / f"schemathesis-{app}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"\nschemathesis {app}: {json.dumps(summary)}")
    assert not failures, "\n\n".join(failures)
    assert summary["5xx"] == 0
    assert summary["calls"] >= (2 * operations - len(no_negative)) * MAX_EXAMPLES // 2


def refuses_a_reused_key(response: requests.Response) -> bool:
    if response.status_code != 422:
        return False
    detail = response.json()["detail"]
    return isinstance(detail, list) and detail[0]["type"] == "idempotency_key_reused"


@pytest.fixture(scope="module")
def fuzz_user(backend: Server) -> User:
    name = f"fuzz_{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": "fuzzing pw"}
    created = requests.post(f"{backend.url}/api/v1/users", json=body, timeout=10)
    token = requests.post(f"{backend.url}/api/v1/auth/token", json=body, timeout=10)
    return User(created.json()["id"], name, body["password"], token.json()["access_token"])


@pytest.mark.slow
def test_backend_schema(backend: Server, fuzz_user: User, tmp_path_factory) -> None:
    fuzz(backend, fuzz_user.auth, tmp_path_factory, "backend")


@pytest.mark.slow
def test_mcp_server_schema(mcp_server: Server, tmp_path_factory) -> None:
    fuzz(mcp_server, {"Authorization": f"Bearer {SERVICE_TOKEN}"}, tmp_path_factory, "mcp-server")
