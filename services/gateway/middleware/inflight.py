"""Load shedding: past `max_in_flight` requests in progress, answer 503 at once.

Queueing more work than the process can finish only makes every request slow (latency grows
with the queue while throughput stays flat); refusing the excess early keeps the accepted ones
fast and tells clients when to come back. Ops endpoints are exempt so that probes and scrapes
still see the process under load.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tessera import telemetry
from tessera.gateway.api import errors
from tessera.gateway.errors import Overloaded

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class InFlightLimit:
    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_s: float) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        telemetry.RATE_LIMITED.labels(bucket="in_flight")  # 0, not "no data"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            telemetry.RATE_LIMITED.labels(bucket="in_flight").inc()
            await errors.overloaded(Overloaded(self.retry_after_s))(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
