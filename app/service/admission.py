"""Who may start a new session: the client's own limit and the service's capacity.

``limits.max_sessions_per_client`` bounds one client; ``limits.max_streams`` bounds the whole app
at the number of streams it carries in real time (measured: README "Benchmarks"), so that a burst
of new sessions is refused (``at_capacity``, close 1013 "try again later") instead of degrading
every session already admitted.

Both are checked before a start (a cheap early refusal) and again after it: the check and the
creation are an await apart, on several hosts and ingress replicas, so a burst of parallel
starts could all pass the first check. After the start, the live sessions (the client's, or
everyone's) are ranked by creation time, and a new session outside the first N is undone before
its client hears of it. Every adapter that starts sessions (the sockets, the compatible APIs) goes
through :func:`before_start` and :func:`after_start`.
"""

from __future__ import annotations

from app.config import Limits
from app.errors import AtCapacity, TooManySessions
from app.service.ports import Directory, HostPort


def _client_limit(limits: Limits) -> TooManySessions:
    return TooManySessions(f"client has {limits.max_sessions_per_client} sessions open, the most allowed")


def _capacity(limits: Limits) -> AtCapacity:
    return AtCapacity(f"the service is at capacity ({limits.max_streams} streams); retry later")


async def before_start(directory: Directory, client_id: str, limits: Limits) -> None:
    if len(await directory.live_sessions(client_id)) >= limits.max_sessions_per_client:
        raise _client_limit(limits)
    if limits.max_streams and len(await directory.live_sessions(None)) >= limits.max_streams:
        raise _capacity(limits)


async def after_start(directory: Directory, host: HostPort, session_id: str, client_id: str, limits: Limits) -> None:
    """Undo the new session ``session_id`` (and raise) unless it is among the first of both limits."""
    refusal: TooManySessions | AtCapacity | None = None
    mine = sorted(await directory.live_sessions(client_id))
    if session_id not in {sid for _, sid in mine[: limits.max_sessions_per_client]}:
        refusal = _client_limit(limits)
    elif limits.max_streams:
        everyone = sorted(await directory.live_sessions(None))
        if session_id not in {sid for _, sid in everyone[: limits.max_streams]}:
            refusal = _capacity(limits)
    if refusal is not None:
        await host.abandon(session_id, client_id)
        raise refusal
