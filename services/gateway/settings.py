"""Gateway settings (env prefix `TESSERA_GATEWAY_`) on top of the shared ones."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from tessera.settings import REPO_ROOT, Settings


class GatewaySettings(Settings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    reuse_port: bool = Field(
        default=True,
        description="bind with SO_REUSEPORT (Linux, BSD), so that several gateway processes on "
        "one host serve one address and the kernel spreads connections over them",
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_upload_bytes: int = Field(
        default=4 * 1024**3, ge=1024, description="largest slide upload (POST /v1/slides)"
    )
    page_size_max: int = Field(default=200, ge=1)
    db_pool_size: int = Field(default=10, ge=1, le=200)

    # --- authentication (see tessera.gateway.auth) --------------------------------------------
    auth: Literal["header", "token", "jwt"] = Field(
        default="header",
        description="how far X-User-ID is trusted: `header` as sent (development), `token` "
        "per-tenant API tokens (`tessera tenants token`), `jwt` OIDC bearer tokens (JWKS)",
    )
    token_cache_s: float = Field(
        default=5.0,
        ge=0,
        description="API token lookups are cached this long: a revoked token stops working "
        "within it",
    )
    jwt_jwks_url: str | None = Field(default=None, description="the issuer's JWKS (jwt mode)")
    jwt_issuer: str | None = Field(default=None, description="the `iss` tokens must carry")
    jwt_audience: str | None = Field(default=None, description="the `aud` tokens must carry")
    jwt_tenant_claim: str = Field(
        default="tenant_id", min_length=1, description="the claim that names the tenant's UUID"
    )
    jwt_algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwt_leeway_s: float = Field(default=30.0, ge=0, description="clock skew allowed on exp/nbf")
    jwks_cache_s: float = Field(
        default=300.0, gt=0, description="the JWKS is fetched again after this long"
    )
    auth_fail_rate_per_s: float = Field(
        default=0.2, gt=0, description="sustained failed authentications per second and address"
    )
    auth_fail_burst: int = Field(
        default=10, ge=1, description="failed authentications an address may make at once"
    )

    # --- rate limits (per tenant, GCRA in Redis; see tessera.gateway.ratelimit) -------------
    rate_limit_enabled: bool = True
    api_rate_per_s: float = Field(
        default=20.0, gt=0, description="sustained API requests per second and tenant"
    )
    api_burst: int = Field(default=40, ge=1, description="API requests a tenant may make at once")
    submit_rate_per_s: float = Field(
        default=1.0, gt=0, description="sustained workflow submissions per second and tenant"
    )
    submit_burst: int = Field(default=5, ge=1, description="submissions a tenant may make at once")
    tile_rate_per_s: float = Field(
        default=200.0, gt=0, description="sustained Deep Zoom tile reads per second and tenant"
    )
    tile_burst: int = Field(default=400, ge=1, description="tile reads a tenant may make at once")
    redis_timeout_s: float = Field(
        default=0.5, gt=0, description="past this a Redis call counts as failed"
    )
    redis_cooldown_s: float = Field(
        default=2.0, gt=0, description="after a Redis failure, local buckets for this long"
    )

    # --- read-your-writes (tessera.gateway.consistency) -----------------------------------------
    read_wait_s: float = Field(
        default=2.0,
        gt=0,
        description="a read with a consistency token waits this long for the read models, then 503",
    )

    idempotency_retention_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="an Idempotency-Key answers its original request for this long",
    )

    # --- load shedding ----------------------------------------------------------------------
    max_in_flight: int = Field(
        default=128, ge=1, description="HTTP requests in progress at once; past it: 503"
    )
    shed_retry_after_s: int = Field(default=1, ge=1)

    # --- live stream (WS /v1/stream) --------------------------------------------------------
    ws_max_connections: int = Field(default=5000, ge=1)
    ws_max_per_tenant: int = Field(default=200, ge=1)
    ws_queue_size: int = Field(
        default=256, ge=1, description="updates buffered per client before it is dropped"
    )
    ws_poll_s: float = Field(
        default=5.0, gt=0, description="re-read a streamed tenant this often even unannounced"
    )
    ws_page_size: int = Field(default=200, ge=1, le=5000)

    # --- web UI ------------------------------------------------------------------------------
    ui_dir: Path = Field(
        default=REPO_ROOT / "ui" / "dist",
        description="the built UI (`make ui`), served at / when it holds an index.html",
    )

    @model_validator(mode="after")
    def _jwt_needs_its_issuer(self) -> Self:
        if self.auth == "jwt":
            missing = [
                f"TESSERA_GATEWAY_{name.upper()}"
                for name in ("jwt_jwks_url", "jwt_issuer", "jwt_audience")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"TESSERA_GATEWAY_AUTH=jwt needs {', '.join(missing)}")
        return self
