"""How a session host's call fails, as the ingress sees it (deployments/remote.py): an application
error comes back as itself, a host that is gone, whichever transport carried the call, as
``session_interrupted`` (the socket closes 1012 and the client resumes)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from ray.exceptions import ActorUnavailableError, RayTaskError

from app.errors import SessionInterrupted, SessionNotFound
from deployments.remote import _call


async def _raising(exc: BaseException) -> None:
    raise exc


def _run(exc: BaseException) -> None:
    asyncio.run(_call(_raising(exc)))


def test_an_application_error_comes_back_as_itself() -> None:
    cause = SessionNotFound("no such session")
    wrapped = RayTaskError("feed", "traceback", cause)
    with pytest.raises(SessionNotFound):
        _run(wrapped)


@pytest.mark.parametrize(
    "gone",
    [
        ActorUnavailableError("Actor is unavailable.", None),
        # a call over Serve's gRPC transport to a replica that died with the call in flight
        grpc.aio.AioRpcError(grpc.StatusCode.CANCELLED, grpc.aio.Metadata(), grpc.aio.Metadata(), "cancelled"),
        grpc.aio.AioRpcError(grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), "stream reset"),
    ],
    ids=["actor-unavailable", "grpc-cancelled", "grpc-internal"],
)
def test_a_host_that_is_gone_is_session_interrupted(gone: BaseException) -> None:
    with pytest.raises(SessionInterrupted):
        _run(gone)
