"""Ops endpoints of the gateway: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tessera.gateway.api.models import Health, Readiness
from tessera.gateway.ratelimit import FallbackRateLimiter, RedisRateLimiter

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok", service="gateway")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "NATS or PostgreSQL is not reachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready when NATS is connected and PostgreSQL answers.

    Redis is reported but not required: without it rate limits are kept per process (see
    `rate_limits`), which is better than taking every gateway out of service at once.
    """
    state = request.app.state
    checks = {"nats": state.bus.connected, "postgres": False}
    try:
        async with state.pool.acquire(timeout=2) as conn:
            checks["postgres"] = bool(await conn.fetchval("SELECT true"))
    except Exception:
        checks["postgres"] = False
    store = state.limit_store
    where = "off"
    if isinstance(store, FallbackRateLimiter) and isinstance(store.primary, RedisRateLimiter):
        checks["redis"] = await store.primary.ping()
        where = "local" if store.degraded else "redis"
    ok = checks["nats"] and checks["postgres"]
    body = Readiness(status="ready" if ok else "not ready", checks=checks, rate_limits=where)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {
                    "schema": {"type": "string"},
                    "example": 'tessera_rate_limit_rejections_total{bucket="api"} 12.0\n',
                }
            },
            "description": "Prometheus text exposition",
        }
    },
)
async def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
