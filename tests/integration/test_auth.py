"""Credentials on the wire: API keys, JWTs in each place a client can put them, and the token endpoint."""

from __future__ import annotations

import time

import pytest

from app.auth import AuthSettings, Principal, mint_token
from tests.integration.conftest import AUTH_A, Stack, rejected, start, stop

pytestmark = pytest.mark.timeout(30)


def jwt_for(stack: Stack, client_id: str = "client-a", **kwargs: object) -> str:
    token, _ = mint_token(stack.settings.auth, Principal(client_id, via="api_key"), **kwargs)  # type: ignore[arg-type]
    return token


@pytest.mark.parametrize("path", ["/v1/stream/control", "/v1/stream/audio"])
@pytest.mark.parametrize(
    ("headers", "query", "code", "close"),
    [
        ({}, "", "unauthenticated", 4401),
        ({"Authorization": "Bearer key-zzz"}, "", "unauthenticated", 4401),
        ({"Authorization": "Basic a2V5LWE="}, "", "unauthenticated", 4401),
        ({}, "?token=key-zzz", "unauthenticated", 4401),
        (AUTH_A, "?client_id=client-b", "forbidden", 4403),
    ],
    ids=["missing", "wrong-key", "not-bearer", "wrong-key-in-query", "other-client-id"],
)
def test_bad_credentials_are_refused(
    stack: Stack, path: str, headers: dict[str, str], query: str, code: str, close: int
) -> None:
    with stack.client.websocket_connect(path + query, headers=dict(headers)) as ws:
        error, close_code = rejected(ws)
    assert error["code"] == code
    assert "key-zzz" not in error["message"]
    assert close_code == close
    assert stack.errors(code) == 1


def test_api_key_with_its_own_client_id(stack: Stack) -> None:
    with stack.control(client_id="client-a") as ws:
        start(ws)
        assert stop(ws)[1] == 1000


@pytest.mark.parametrize("place", ["header", "query", "subprotocol"])
def test_jwt_is_accepted_wherever_a_client_can_put_it(stack: Stack, place: str) -> None:
    token = jwt_for(stack)
    if place == "header":
        ws = stack.client.websocket_connect("/v1/stream/control", headers={"Authorization": f"Bearer {token}"})
    elif place == "query":
        ws = stack.client.websocket_connect(f"/v1/stream/control?token={token}")
    else:
        ws = stack.client.websocket_connect("/v1/stream/control", subprotocols=["stt.v1", f"bearer.{token}"])
    with ws:
        # the server picks stt.v1 and never echoes the credential
        assert ws.accepted_subprotocol == ("stt.v1" if place == "subprotocol" else None)
        start(ws)
        messages, code = stop(ws)
    assert messages[-1]["type"] == "session_ended" and code == 1000


def test_expired_jwt_is_refused(stack: Stack) -> None:
    token = jwt_for(stack, ttl_s=60, now=lambda: time.time() - 3600)
    with stack.control(None, token=token) as ws:
        error, code = rejected(ws)
    assert error["code"] == "unauthenticated" and "expired" in error["message"]
    assert code == 4401


def test_jwt_signed_with_another_secret_is_refused(stack: Stack) -> None:
    token, _ = mint_token(AuthSettings(jwt_secret="y" * 32), Principal("client-a", via="api_key"))
    with stack.control(None, token=token) as ws:
        error, code = rejected(ws)
    assert error["code"] == "unauthenticated" and code == 4401


def test_session_bound_jwt(stack: Stack) -> None:
    token = jwt_for(stack, session_id="bound-1")
    # naming no session: the token's session is the one started
    with stack.control(None, token=token) as ws:
        assert start(ws)["session_id"] == "bound-1"
        assert stop(ws)[1] == 1000
    with stack.control(None, token=token, session_id="other-1") as ws:
        error, code = rejected(ws)
    assert error["code"] == "forbidden" and code == 4403


def test_token_endpoint_mints_a_working_jwt(stack: Stack) -> None:
    response = stack.client.post("/v1/auth/token", headers=AUTH_A, json={"ttl_s": 120})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 120
    with stack.control(None, token=body["token"]) as ws:
        start(ws)
        assert stop(ws)[1] == 1000


def test_token_endpoint_refuses_bad_requests(stack: Stack) -> None:
    token = jwt_for(stack)
    # a token cannot mint itself a longer life
    response = stack.client.post("/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"

    response = stack.client.post("/v1/auth/token")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"

    response = stack.client.post("/v1/auth/token", headers=AUTH_A, content=b"{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_message"

    response = stack.client.post("/v1/auth/token", headers=AUTH_A, json={"ttl_s": "long"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_message"

    response = stack.client.post("/v1/auth/token", headers=AUTH_A, json={"ttl_s": 0})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_message"


def test_token_endpoint_binds_a_session(stack: Stack) -> None:
    response = stack.client.post("/v1/auth/token", headers=AUTH_A, json={"session_id": "mine-1"})
    assert response.status_code == 200
    with stack.audio(None, token=response.json()["token"], session_id="mine-2") as ws:
        error, code = rejected(ws)
    assert error["code"] == "forbidden" and code == 4403
