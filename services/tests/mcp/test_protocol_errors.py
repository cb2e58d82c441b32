"""JSON-RPC errors on /mcp carry the specification's codes, short messages that do not
quote the input, and GET opens no stream (see app.mcp_corrections)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from harness.local import Server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import User

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, PARSE_ERROR = -32600, -32601, -32602, -32700


def post(server: Server, user: User, body: bytes, **headers: str) -> httpx.Response:
    sent = {**MCP_HEADERS, **user.auth, **headers}
    return httpx.post(f"{server.url}/mcp", content=body, headers=sent, timeout=10)


def rpc(**members: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", **members}).encode()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (rpc(id=None, method="tools/list"), INVALID_REQUEST),
        (rpc(id=1.5, method="tools/list"), INVALID_REQUEST),
        (rpc(id={"x": 1}, method="tools/list"), INVALID_REQUEST),
        (rpc(id=True, method="tools/list"), INVALID_REQUEST),
        (rpc(id=[1], method="tools/list"), INVALID_REQUEST),
        (b'{"id": 1, "method": "tools/list"}', INVALID_REQUEST),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "initialize"}', INVALID_REQUEST),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]', INVALID_REQUEST),
        (b"[]", INVALID_REQUEST),
        (b'"just a string"', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0"}', INVALID_REQUEST),
        (rpc(id=1, method=5), INVALID_REQUEST),
        (rpc(id=1, method="tools/call", params="nope"), INVALID_REQUEST),
        (rpc(id=1, result="not an object"), INVALID_REQUEST),
        (rpc(id=1, method="tools/call", params=["add_task"]), INVALID_PARAMS),
        (b"{not json", PARSE_ERROR),
    ],
)
def test_malformed_envelopes_get_the_specified_code(
    mcp_server: Server, user: User, body: bytes, code: int
) -> None:
    response = post(mcp_server, user, body)
    assert response.status_code == 400
    payload = response.json()
    assert (payload["jsonrpc"], payload["id"], payload["error"]["code"]) == ("2.0", None, code)
    assert len(response.content) < 200  # a fixed sentence, not the input quoted back


def test_a_request_with_a_null_id_is_refused_not_silently_dropped(
    mcp_server: Server, user: User, api: httpx.Client
) -> None:
    call = {"name": "add_task", "arguments": {"title": "ghost"}}
    response = post(mcp_server, user, rpc(id=None, method="tools/call", params=call))
    assert response.json()["error"]["code"] == INVALID_REQUEST
    assert api.get("/api/v1/tasks", headers=user.auth).json()["total"] == 0


def test_valid_messages_still_pass(mcp_server: Server, user: User) -> None:
    ping = post(mcp_server, user, rpc(id="p-1", method="ping"))
    assert (ping.status_code, ping.json()) == (200, {"jsonrpc": "2.0", "id": "p-1", "result": {}})
    notification = post(mcp_server, user, rpc(method="notifications/initialized"))
    assert notification.status_code == 202


def test_unknown_method_is_method_not_found(mcp_server: Server, user: User) -> None:
    response = post(mcp_server, user, rpc(id=2, method="no/such/method"))
    assert response.json()["error"]["code"] == METHOD_NOT_FOUND


def test_unknown_prompt_is_invalid_params_and_logs_no_error(mcp_server: Server, user: User) -> None:
    request_id = uuid.uuid4().hex
    body = rpc(id=3, method="prompts/get", params={"name": "nope"})
    response = post(mcp_server, user, body, **{"X-Request-ID": request_id})
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": INVALID_PARAMS, "message": "Unknown prompt"},
    }
    time.sleep(0.2)  # the access line is written after the response
    lines = [json.loads(line) for line in mcp_server.logs().splitlines() if request_id in line]
    assert "request" in [entry["message"] for entry in lines]  # the access line: it was served
    assert [e for e in lines if e["level"] != "INFO" or "exc_info" in e] == []


def test_authentication_comes_before_envelope_checks(mcp_server: Server) -> None:
    response = httpx.post(f"{mcp_server.url}/mcp", content=b"[]", headers=MCP_HEADERS)
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_only_post_is_served_so_no_stream_is_held_open(
    mcp_server: Server, user: User, method: str
) -> None:
    headers = {**user.auth, "Accept": "text/event-stream"}
    started = time.monotonic()
    response = httpx.request(method, f"{mcp_server.url}/mcp", headers=headers, timeout=5)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert time.monotonic() - started < 2


def test_no_subscription_stream_either(mcp_server: Server, user: User) -> None:
    # The 2026-07-28 protocol's standing stream is a POST of subscriptions/listen.
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "probe", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"_meta": meta, "notifications": {"toolsListChanged": True}}
    body = rpc(id=4, method="subscriptions/listen", params=params)
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}
    response = post(mcp_server, user, body, **headers)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == METHOD_NOT_FOUND


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | JSON_VALUES,
        "id": st.integers() | st.text(max_size=8) | JSON_VALUES,
        "method": st.sampled_from(["ping", "tools/list", "tools/call", "prompts/get"])
        | JSON_VALUES,
        "params": st.fixed_dictionaries({}, optional={"name": JSON_VALUES}) | JSON_VALUES,
        "result": JSON_VALUES,
        "error": JSON_VALUES,
    },
)
SPECIFIED = {PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, -32603}


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=ENVELOPES | JSON_VALUES)
def test_any_json_body_gets_a_specified_answer(
    mcp_server: Server, user: User, body: object
) -> None:
    response = post(mcp_server, user, json.dumps(body).encode())
    assert response.status_code in (200, 202, 400), response.text
    if response.status_code == 202:  # a notification or a response: nothing to answer
        return
    payload = response.json()
    assert payload["jsonrpc"] == "2.0"
    if "error" in payload:
        assert payload["error"]["code"] in SPECIFIED, payload
        assert len(payload["error"]["message"]) < 200, payload
