"""The door every request passes: failed-authentication throttling, the Origin allow-list, then auth.

* **Throttling**: an address whose credentials failed ``auth.failure_limit`` times within
  ``auth.failure_window_s`` is refused with ``too_many_requests`` (close 4429, HTTP 429) without its
  credentials being looked at, until its oldest failure leaves the window. The count is per ingress
  replica, in memory. The address is the peer's, or the first entry of ``auth.client_ip_header``
  (e.g. ``x-forwarded-for``) when the service runs behind a proxy that sets it.
* **Origin**: with ``auth.allowed_origins`` set, a WebSocket upgrade whose ``Origin`` header is not
  listed is refused with ``forbidden``; requests without an ``Origin`` (non-browser clients) pass.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence

from app.auth import Authenticator, AuthSettings, Principal
from app.errors import Forbidden, TooManyRequests, Unauthenticated, quote

#: addresses remembered at once; the least recently failed is forgotten first
MAX_ADDRESSES = 10_000


class FailureThrottle:
    def __init__(self, limit: int, window_s: float, *, now: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window_s = window_s
        self._now = now
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, key: str) -> None:
        """Raises :class:`TooManyRequests` while ``key`` has too many recent failures."""
        if self._limit <= 0:
            return
        times = self._recent(key)
        if times is not None and len(times) >= self._limit:
            wait = max(1, round(times[0] + self._window_s - self._now()))
            raise TooManyRequests(f"too many failed authentications from this address; retry in {wait} s")

    def failed(self, key: str) -> None:
        if self._limit <= 0:
            return
        times = self._recent(key) or deque(maxlen=self._limit)
        times.append(self._now())
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._now() - self._window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


class Gate:
    """One per app: shared by its sockets and REST routes."""

    def __init__(self, settings: AuthSettings, *, now: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.auth = Authenticator(settings)
        self._throttle = FailureThrottle(settings.failure_limit, settings.failure_window_s, now=now)
        self._origins = None if settings.allowed_origins is None else {o.rstrip("/") for o in settings.allowed_origins}

    def address(self, peer: str | None, headers: Mapping[str, str]) -> str:
        if self.settings.client_ip_header:
            forwarded = headers.get(self.settings.client_ip_header, "").split(",")[0].strip()
            if forwarded:
                return forwarded[:64]
        return peer or "unknown"

    def admit(
        self,
        *,
        address: str,
        authorization: str | None,
        query_token: str | None,
        subprotocols: Sequence[str] = (),
        client_id: str | None = None,
        origin: str | None = None,
    ) -> Principal:
        """The caller, or :class:`TooManyRequests`, :class:`Forbidden`, :class:`Unauthenticated`."""
        self._throttle.check(address)
        if origin is not None and self._origins is not None and origin.rstrip("/") not in self._origins:
            raise Forbidden(f"origin {quote(origin)} is not allowed to open this service's sockets")
        try:
            return self.auth.authenticate(
                authorization=authorization, query_token=query_token, subprotocols=subprotocols, client_id=client_id
            )
        except Unauthenticated:
            self._throttle.failed(address)
            raise
