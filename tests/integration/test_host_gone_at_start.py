"""A new session's start that meets a session host gone away (crashed, restarting): the ingress asks
the hosts again instead of failing the start with 1012, and fails it only when they stay away. (After
the hostile e2e killed every host, a fresh start on another ingress replica met a stale host list.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.errors import SessionInterrupted
from app.service import connection
from app.service.local import LocalDirectory
from app.service.routes import build_app
from app.session.host import SessionHost
from app.session.ports import Ports
from tests.fakes.models import ScriptedTranscriber
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.timeout(30)


class HostsComingBack(LocalDirectory):
    """Every host lookup fails as a dead host's would until the hosts were found again ``down`` times."""

    def __init__(self, hosts: list[SessionHost], down: int) -> None:
        super().__init__(hosts)
        self.down = down
        self.refreshes = 0

    async def live_sessions(self, client_id: str | None = None) -> list[tuple[float, str]]:
        if self.refreshes < self.down:
            raise SessionInterrupted()
        return await super().live_sessions(client_id)

    async def refresh(self) -> None:
        self.refreshes += 1


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "FRESH_START_RETRY_S", (0.01, 0.01, 0.01))


def client(down: int) -> Iterator[tuple[TestClient, HostsComingBack]]:
    settings = make_settings()
    host = SessionHost(settings, Ports(realtime=ScriptedTranscriber(), main=ScriptedTranscriber()))
    directory = HostsComingBack([host], down)
    with TestClient(build_app(settings, directory)) as test_client:
        yield test_client, directory
        assert test_client.portal is not None
        test_client.portal.call(host.shutdown)


def test_a_fresh_start_waits_out_a_host_coming_back() -> None:
    for test_client, directory in client(down=2):
        with test_client.websocket_connect("/v1/stream/control", headers={"Authorization": "Bearer key-a"}) as ws:
            ws.send_json({"type": "start_stream"})
            assert ws.receive_json()["type"] == "session_started"
            ws.send_json({"type": "stop_stream"})
            assert ws.receive_json()["type"] == "session_ended"
        assert directory.refreshes == 2


def test_a_fresh_start_fails_with_1012_when_the_hosts_stay_away() -> None:
    for test_client, directory in client(down=100):
        with test_client.websocket_connect("/v1/stream/control", headers={"Authorization": "Bearer key-a"}) as ws:
            ws.send_json({"type": "start_stream"})
            error = ws.receive_json()
            assert error["type"] == "error" and error["code"] == "session_interrupted"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1012
        assert directory.refreshes == 3  # one after each pause, then the start fails
