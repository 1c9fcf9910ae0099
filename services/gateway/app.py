"""The gateway's FastAPI application: REST and the live stream under /v1, ops endpoints,
load protection, error mapping."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from fastapi import APIRouter, FastAPI

from tessera import __version__
from tessera.bus import JetStreamBus
from tessera.gateway.api import errors
from tessera.gateway.api.routes import (
    admission,
    auth,
    cells,
    health,
    jobs,
    overlays,
    results,
    slides,
    stream,
    workflows,
)
from tessera.gateway.auth import Authentication, Authenticator, JwtAuthenticator
from tessera.gateway.cells import CellIndexes
from tessera.gateway.consistency import Projection
from tessera.gateway.deepzoom import DeepZoomSlides
from tessera.gateway.middleware.auth import (
    Authenticate,
    HideQueryCredential,
    RedactCredentials,
)
from tessera.gateway.middleware.body_limit import BodySizeLimit
from tessera.gateway.middleware.inflight import InFlightLimit
from tessera.gateway.middleware.metrics import RequestMetrics
from tessera.gateway.middleware.ratelimit import RateLimit
from tessera.gateway.overlays import JobOverlays
from tessera.gateway.ratelimit import (
    FallbackRateLimiter,
    Limit,
    LocalRateLimiter,
    RatePolicy,
    RedisRateLimiter,
    RefusalMemo,
)
from tessera.gateway.results import SucceededJobs
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.slides import SlideCatalog
from tessera.gateway.tokens import PgTokenStore, TokenAuthenticator
from tessera.gateway.ui import mount_ui
from tessera.gateway.viewhub import ViewHub
from tessera.readmodel.schema import migrate

DESCRIPTION = """\
Every request carries `X-User-ID: <uuid>` (the tenant). A tenant sees only its own workflows,
jobs and streams; another tenant's ids answer 404. `GET /v1/auth` says how far the header is
trusted: as sent (`header` mode), or only with `Authorization: Bearer <token>` naming that tenant
(`token`: an API token, `jwt`: an OIDC access token); there the credential names the tenant, a
missing or invalid one is 401, an X-User-ID of another tenant 403, and an address that fails too
often is answered 429 for a while.

Every `/v1` call spends from the tenant's rate-limit bucket and a submission also from a
stricter one: past them the answer is 429 with `Retry-After`, and every admitted answer carries
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`. When the gateway is at capacity
it answers 503 with `Retry-After` instead of queueing. Errors are always
`{"error": {"status", "message", ...}}`.

Slides (`/v1/slides`): those in the data root are shared lab data, visible to every tenant;
an upload (`POST /v1/slides?name=...`) is stored as `uploads/<tenant>/<name>` and visible to,
and usable in workflows by, its tenant only. Slides and finished jobs' overlays are served as
Deep Zoom images of the same geometry, for a viewer to stack.

Read-your-writes: every write (submit, cancel, upload, delete) answers `X-Tessera-Seq`, its
consistency token (also in the body where there is one). Send it back on a read, as the
`X-Tessera-Seq` header or `?min_seq=`, and the read is served once the read models hold the
write: after a short wait, else 503 with `Retry-After`. A workflow just submitted is never a 404,
token or not.

Idempotent writes: `POST /v1/workflows` and `POST /v1/slides` with an `Idempotency-Key` header
(per tenant) are safe to retry: the same key with the same body within 24 h answers the original
with 200 and records nothing new; the same key with another body is 409.

Live updates: `WS /v1/stream` (tenant as header, `?tenant=<uuid>` or subprotocol
`tenant.<uuid>`; a credential as header, subprotocol `bearer.<token>` or `?access_token=`; resume
with `?cursor=<seq>`, or `?cursor=now` for no backlog).
"""


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """The gateway only reads and sets no session state (no LISTEN, locks, SET), so asyncpg's
    reset query on every release, one more round trip per request, has nothing to undo."""


def build_limiter(settings: GatewaySettings) -> tuple[RefusalMemo, FallbackRateLimiter] | None:
    """The limiter requests go through, and the store behind it (for readiness)."""
    if not settings.rate_limit_enabled:
        return None
    redis = RedisRateLimiter.from_url(
        settings.redis_url, prefix=f"{settings.namespace}:rl", timeout_s=settings.redis_timeout_s
    )
    store = FallbackRateLimiter(redis, LocalRateLimiter(), cooldown_s=settings.redis_cooldown_s)
    return RefusalMemo(store), store


def build_authentication(
    settings: GatewaySettings, pool: asyncpg.Pool, limiter: RefusalMemo | None
) -> Authentication:
    authenticator: Authenticator | None = None
    if settings.auth == "token":
        authenticator = TokenAuthenticator(PgTokenStore(pool), cache_s=settings.token_cache_s)
    elif settings.auth == "jwt":
        authenticator = JwtAuthenticator.from_settings(settings)
    failures = Limit("auth_failures", settings.auth_fail_rate_per_s, settings.auth_fail_burst)
    return Authentication(settings.auth, authenticator, limiter, failures)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    policy = RatePolicy.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = await JetStreamBus.connect(
            settings.nats_url,
            settings.namespace,
            name="tessera-gateway",
            replicas=settings.stream_replicas,
        )
        await bus.ensure_streams()
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=1,
            max_size=settings.db_pool_size,
            reset=_no_session_state,
        )
        async with pool.acquire() as conn:
            await migrate(conn)  # the gateway may start before the projector
        hub = ViewHub(
            bus,
            pool,
            page_size=settings.ws_page_size,
            poll_s=settings.ws_poll_s,
            queue_size=settings.ws_queue_size,
            max_connections=settings.ws_max_connections,
            max_per_tenant=settings.ws_max_per_tenant,
        )
        await hub.start()
        projection = Projection(bus, pool)
        await projection.start()
        limiter, store = build_limiter(settings) or (None, None)
        app.state.auth = build_authentication(settings, pool, limiter)
        app.state.settings, app.state.bus, app.state.pool = settings, bus, pool
        app.state.hub, app.state.projection, app.state.rate_policy = hub, projection, policy
        app.state.limiter, app.state.limit_store = limiter, store
        app.state.catalog = SlideCatalog(settings.data_root)
        app.state.deepzoom, app.state.overlays = DeepZoomSlides(), JobOverlays()
        app.state.succeeded = SucceededJobs(settings.results_root)
        app.state.cells = CellIndexes()
        try:
            yield
        finally:
            await projection.stop()
            await hub.stop()
            if limiter is not None:
                await limiter.close()
            await pool.close()
            await bus.close()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="Branch-aware, multi-tenant workflow scheduler for whole-slide-image inference",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    errors.install(app)
    app.state.auth = Authentication(settings.auth)  # the mode; its checker comes with the pool
    # add_middleware puts each one outside the previous: innermost first
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        routes={("POST", "/v1/slides"): settings.max_upload_bytes},
    )
    app.add_middleware(RateLimit, policy=policy)
    app.add_middleware(Authenticate, mode=settings.auth)  # before the tenant's buckets
    app.add_middleware(
        InFlightLimit,
        max_in_flight=settings.max_in_flight,
        retry_after_s=settings.shed_retry_after_s,
    )
    app.add_middleware(RequestMetrics)
    app.add_middleware(HideQueryCredential)  # outermost: before anything can log the query
    RedactCredentials.install()

    v1 = APIRouter(prefix="/v1", responses=errors.V1_ERRORS)
    for module in (auth, workflows, jobs, results, cells, overlays, slides, admission, stream):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(health.router)
    mount_ui(app, settings.ui_dir)  # last: it takes the paths no route above answers
    return app
