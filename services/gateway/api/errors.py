"""The one place where Tessera's errors become HTTP answers and WebSocket close codes.

Every error answer is JSON: `{"error": {"status": <int>, "message": <str>, ...}}`, with a message
a user can act on; this holds for the router's own 404/405, for load shedding done by middleware
(which calls the builders below directly, being outside the exception handlers) and for bugs (500).
WebSocket close codes follow the common `4000 + HTTP status` convention (4400, 4401, 4429, ...).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from tessera.errors import (
    BusError,
    Conflict,
    InvalidWorkflow,
    NotFound,
    SlideError,
    SlidesRefused,
)
from tessera.gateway.errors import (
    GatewayError,
    IssuerUnavailable,
    NotProjected,
    Overloaded,
    RateLimited,
    SlowConsumer,
    TooManyStreams,
    Unauthenticated,
    UnknownToken,
    UploadTooLarge,
    WrongTenant,
)
from tessera.gateway.ratelimit import Verdict

log = structlog.get_logger(__name__)

WS_TRY_AGAIN_LATER = 1013
WS_INTERNAL_ERROR = 1011


class RefusedSlide(BaseModel):
    slide: str = Field(examples=["cases/17.svs"])
    reason: str = Field(examples=["no such file under the data root"])
    jobs: list[str] = Field(description="the ids of the jobs that name the slide")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: int = Field(examples=[404])
    message: str = Field(examples=["workflow '0b7e…' not found"])
    problems: list[str] | None = Field(
        default=None, description="every problem found, for 422 answers"
    )
    slides: list[RefusedSlide] | None = Field(
        default=None, description="every slide a submission names that cannot be used (422)"
    )


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def _doc(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        out["headers"] = {
            name: {"description": d, "schema": {"type": "string"}} for name, d in headers.items()
        }
    return out


RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "requests the deciding bucket holds",
    "RateLimit-Remaining": "requests left in it now",
    "RateLimit-Reset": "seconds until it is full again",
}
TENANT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _doc("malformed X-User-ID (not a UUID), or a malformed request"),
    401: _doc(
        "missing X-User-ID; with token or jwt authentication a missing or invalid credential",
        {"WWW-Authenticate": "`Bearer`: the credential the gateway expects"},
    ),
    403: _doc("X-User-ID names another tenant than the credential (token and jwt modes)"),
}
LOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: _doc("request body larger than the gateway accepts"),
    429: _doc(
        "the tenant's rate limit is spent (or the client address failed authentication too "
        "often): retry after `Retry-After` seconds",
        {"Retry-After": "seconds to wait", **RATE_LIMIT_HEADERS},
    ),
    503: _doc(
        "the gateway sheds load or a backend is unavailable: nothing was recorded, retry later; "
        "or, for a read with a consistency token, the read models had not reached it in time",
        {"Retry-After": "seconds to wait"},
    ),
}
Responses = dict[int | str, dict[str, Any]]
WRITTEN: dict[str, Any] = {
    "headers": {
        "X-Tessera-Seq": {
            "description": "the consistency token: the log sequence this write produced; send it "
            "back (header or `min_seq`) on reads that must see the write",
            "schema": {"type": "integer"},
        }
    }
}
V1_ERRORS: Responses = {**TENANT_ERRORS, **LOAD_ERRORS}
NOT_FOUND: Responses = {404: _doc("no such resource for this tenant (other tenants' ids included)")}
INVALID: Responses = {422: _doc("invalid request: the message names every problem")}
CONFLICT: Responses = {
    409: _doc("refused in the current state (the body's `state`), e.g. a job that has ended")
}


def media_responses(media_type: str, what: str, errors: Responses) -> Responses:
    """OpenAPI responses of a route that answers a file or image rather than JSON."""
    return {200: {"description": what, "content": {media_type: {}}}, **errors}


def problem(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message, **extra}}, status_code=status
    )


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def rate_limit_headers(verdict: Verdict) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(verdict.limit.burst),
        "RateLimit-Remaining": str(verdict.remaining),
        "RateLimit-Reset": str(math.ceil(verdict.reset_after)),
    }


def rate_limited(exc: RateLimited) -> JSONResponse:
    verdict = exc.verdict
    response = problem(
        429,
        f"{exc}; retry after {_seconds(verdict.retry_after)} s",
        bucket=verdict.limit.name,
        retry_after_s=round(verdict.retry_after, 3),
    )
    response.headers.update(rate_limit_headers(verdict))
    response.headers["Retry-After"] = _seconds(verdict.retry_after)
    return response


def overloaded(exc: Overloaded) -> JSONResponse:
    response = problem(
        503, f"{exc}; nothing was recorded, retry after {_seconds(exc.retry_after)} s"
    )
    response.headers["Retry-After"] = _seconds(exc.retry_after)
    return response


def unauthenticated(exc: Unauthenticated) -> JSONResponse:
    response = problem(401, str(exc))
    response.headers["WWW-Authenticate"] = 'Bearer realm="tessera"'
    return response


def issuer_unavailable(exc: IssuerUnavailable) -> JSONResponse:
    response = problem(503, f"{exc}; retry later")
    response.headers["Retry-After"] = "5"
    return response


def auth_refusal(exc: GatewayError | StarletteHTTPException) -> JSONResponse:
    """The answer of a request refused by authentication (called from its middleware)."""
    if isinstance(exc, Unauthenticated):
        return unauthenticated(exc)
    if isinstance(exc, WrongTenant):
        return problem(403, str(exc))
    if isinstance(exc, RateLimited):
        return rate_limited(exc)
    if isinstance(exc, IssuerUnavailable):
        return issuer_unavailable(exc)
    if isinstance(exc, StarletteHTTPException):
        return problem(exc.status_code, str(exc.detail))
    raise exc


def too_large(limit: int) -> JSONResponse:
    return problem(413, f"request body too large: at most {limit} bytes are accepted", limit=limit)


def too_large_error(limit: int) -> StarletteHTTPException:
    """Raised from inside a body read that passed the limit (the route's handler re-raises it)."""
    return StarletteHTTPException(
        413, f"request body too large: at most {limit} bytes are accepted"
    )


def close_code(exc: BaseException) -> tuple[int, str]:
    """The WebSocket close code and reason (at most 123 bytes) for an error."""
    if isinstance(exc, StarletteHTTPException):
        code, reason = 4000 + exc.status_code, str(exc.detail)
    elif isinstance(exc, NotFound):
        code, reason = 4404, str(exc)
    elif isinstance(exc, Unauthenticated):
        code, reason = 4401, str(exc)
    elif isinstance(exc, WrongTenant):
        code, reason = 4403, str(exc)
    elif isinstance(exc, RateLimited):
        code, reason = 4429, f"rate limited; retry after {_seconds(exc.verdict.retry_after)} s"
    elif isinstance(exc, TooManyStreams):
        code, reason = 4429, str(exc)
    elif isinstance(exc, Overloaded | SlowConsumer | IssuerUnavailable):
        code, reason = WS_TRY_AGAIN_LATER, str(exc)
    else:
        code, reason = WS_INTERNAL_ERROR, "internal error"
    return code, reason.encode()[:123].decode(errors="ignore")


@contextlib.asynccontextmanager
async def closing_on_error(websocket: WebSocket) -> AsyncIterator[None]:
    """Close an accepted WebSocket with the code and reason of whatever error ends the block."""
    try:
        yield
    except WebSocketDisconnect:
        pass
    except Exception as exc:
        code, reason = close_code(exc)
        if code == WS_INTERNAL_ERROR:
            log.error("unhandled_websocket_error", path=websocket.url.path, exc_info=exc)
        with contextlib.suppress(Exception):  # the client may be gone already
            await websocket.close(code, reason)


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidWorkflow)
    async def invalid_workflow(_: Request, exc: InvalidWorkflow) -> JSONResponse:
        return problem(422, "invalid workflow: " + "; ".join(exc.problems), problems=exc.problems)

    @app.exception_handler(SlideError)
    async def slide_error(_: Request, exc: SlideError) -> JSONResponse:
        return problem(422, str(exc), problems=[str(exc)])

    @app.exception_handler(SlidesRefused)
    async def slides_refused(_: Request, exc: SlidesRefused) -> JSONResponse:
        slides = [
            RefusedSlide(slide=error.slide, reason=error.reason, jobs=jobs).model_dump()
            for error, jobs in exc.refused
        ]
        return problem(422, str(exc), problems=[str(e) for e, _ in exc.refused], slides=slides)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc), state=exc.state)

    @app.exception_handler(BusError)
    async def bus_error(_: Request, exc: BusError) -> JSONResponse:
        response = problem(503, f"the event log is unavailable, nothing was recorded: {exc}")
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # e.g. an upload abandoned half-way: its temporary file is already gone, nobody reads
        # this answer, and it is not the gateway's error
        log.info("client_disconnected", method=request.method, path=request.url.path)
        return problem(400, "the client disconnected before the request body was complete")

    @app.exception_handler(UploadTooLarge)
    async def upload_too_large(_: Request, exc: UploadTooLarge) -> JSONResponse:
        return too_large(exc.limit)

    @app.exception_handler(RateLimited)
    async def rate_limited_handler(_: Request, exc: RateLimited) -> JSONResponse:
        return rate_limited(exc)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated_handler(_: Request, exc: Unauthenticated) -> JSONResponse:
        return unauthenticated(exc)

    @app.exception_handler(WrongTenant)
    async def wrong_tenant_handler(_: Request, exc: WrongTenant) -> JSONResponse:
        return problem(403, str(exc))

    @app.exception_handler(IssuerUnavailable)
    async def issuer_unavailable_handler(_: Request, exc: IssuerUnavailable) -> JSONResponse:
        return issuer_unavailable(exc)

    @app.exception_handler(NotProjected)
    async def not_projected(_: Request, exc: NotProjected) -> JSONResponse:
        response = problem(503, str(exc), seq=exc.seq, projected_seq=exc.projected)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(UnknownToken)
    async def unknown_token(_: Request, exc: UnknownToken) -> JSONResponse:
        return problem(400, str(exc), seq=exc.seq, last_seq=exc.last)

    @app.exception_handler(Overloaded)
    async def overloaded_handler(_: Request, exc: Overloaded) -> JSONResponse:
        return overloaded(exc)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return problem(422, "invalid request: " + "; ".join(problems), problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # the router names the first route of the path only
            headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        response = problem(exc.status_code, _http_message(exc.status_code, exc.detail, headers))
        for k, v in headers.items():
            response.headers[k] = v
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Runs in ServerErrorMiddleware, outermost: it also catches middleware bugs.
        log.error("unhandled_error", method=request.method, path=request.url.path, exc_info=exc)
        return problem(500, "internal error; the gateway logged it")


def _http_message(status: int, detail: object, headers: dict[str, str]) -> str:
    if status == 404 and detail == "Not Found":
        return "no such route: see /docs for the API"
    if status == 405:
        allowed = headers.get("Allow", "")
        return f"method not allowed here; allowed: {allowed}" if allowed else "method not allowed"
    return str(detail)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at this request's path (asked route by route
    through the public `matches`, so included routers are searched too)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]
