"""Ops endpoints of the gateway: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok", "service": "gateway"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when NATS is connected and PostgreSQL answers."""
    state = request.app.state
    checks = {"nats": bool(state.bus.nc.is_connected), "postgres": False}
    try:
        async with state.pool.acquire(timeout=2) as conn:
            checks["postgres"] = await conn.fetchval("SELECT true")
    except Exception:
        checks["postgres"] = False
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
