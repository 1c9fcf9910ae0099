"""Per-tenant rate limits on every /v1 request (see `tessera.gateway.ratelimit`).

Runs before routing and body parsing, so a tenant over its limit costs one Redis call. The
tenant is the authenticated one (token and jwt modes: the auth middleware runs first) or the
X-User-ID (header mode). Requests without one are passed on untouched: the API answers them
401/400 itself (and the in-flight cap bounds them). Admitted responses carry the RateLimit-*
headers of the tightest bucket, so clients can slow down before they are refused.
"""

from __future__ import annotations

from uuid import UUID

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera import telemetry
from tessera.gateway.api import errors
from tessera.gateway.api.deps import TENANT_HEADER
from tessera.gateway.errors import RateLimited
from tessera.gateway.ratelimit import RateLimiter, RatePolicy


class RateLimit:
    def __init__(self, app: ASGIApp, *, policy: RatePolicy) -> None:
        self.app = app
        self.policy = policy
        for limit in (policy.api, policy.submissions, policy.tiles):  # 0, not "no data"
            telemetry.RATE_LIMITED.labels(bucket=limit.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = getattr(scope["app"].state, "limiter", None)
        limits = (
            self.policy.limits_for(scope["method"], scope["path"])
            if (scope["type"] == "http" and limiter is not None)
            else ()
        )
        tenant = _tenant(scope) if limits else None
        if limiter is None or tenant is None:
            await self.app(scope, receive, send)
            return
        verdict = await limiter.acquire(tenant, limits)
        if not verdict.allowed:
            telemetry.RATE_LIMITED.labels(bucket=verdict.limit.name).inc()
            await errors.rate_limited(RateLimited(verdict))(scope, receive, send)
            return
        headers = [
            (k.lower().encode(), v.encode()) for k, v in errors.rate_limit_headers(verdict).items()
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _tenant(scope: Scope) -> str | None:
    authenticated = (scope.get("state") or {}).get("tenant")
    if authenticated is not None:
        return str(authenticated)
    if scope["app"].state.auth.verifies:  # an unauthenticated X-User-ID spends nobody's bucket
        return None
    raw = Headers(scope=scope).get(TENANT_HEADER)
    if not raw:
        return None
    try:
        return str(UUID(raw.strip()))
    except ValueError:
        return None
