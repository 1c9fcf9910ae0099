"""Who a request's tenant is: how far X-User-ID is trusted (TESSERA_GATEWAY_AUTH).

- `header`: X-User-ID is the tenant, as sent (development; the default of `make run`).
- `token`: `Authorization: Bearer tsr_...`, a per-tenant API token (`tessera.gateway.tokens`).
- `jwt`: `Authorization: Bearer <JWT>` from an OIDC issuer, checked against its JWKS (signature,
  `iss`, `aud`, `exp`); a configured claim names the tenant's UUID.

In `token` and `jwt` the credential names the tenant; an X-User-ID that names another one is
refused (403), one that agrees (or none) is fine. Failed checks spend from a bucket of the
client's address in the shared rate limiter (`auth_failures`); once it is empty the address is
answered 429 without its credentials being checked, until the bucket has room again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

import jwt
import structlog

from tessera.gateway.errors import (
    IssuerUnavailable,
    RateLimited,
    Unauthenticated,
    WrongTenant,
)
from tessera.gateway.ratelimit import Limit, RefusalMemo
from tessera.gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

AuthMode = Literal["header", "token", "jwt"]
BEARER = "bearer"
FAILURES = Limit("auth_failures", 0.2, 10)  # the settings' defaults


class Authenticator(Protocol):
    """Port: the tenant a bearer credential names; `Unauthenticated` when it names none."""

    async def tenant_of(self, token: str) -> UUID: ...


def bearer_token(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <token>` header (None when there is none)."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != BEARER or not token.strip():
        raise Unauthenticated("the Authorization header must read `Bearer <token>`")
    return token.strip()


class JwtAuthenticator:
    """OIDC access tokens: the key from the issuer's JWKS (fetched by PyJWT's client, cached for
    `cache_s`, refetched at most every few seconds for an unknown key id), then the signature,
    issuer, audience and expiry, then the tenant claim."""

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        tenant_claim: str,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        leeway_s: float = 30.0,
        cache_s: float = 300.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._jwks = jwt.PyJWKClient(
            jwks_url, cache_jwk_set=True, lifespan=cache_s, timeout=timeout_s
        )
        self._issuer, self._audience = issuer, audience
        self._claim = tenant_claim
        self._algorithms = list(algorithms)
        self._leeway = leeway_s

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> JwtAuthenticator:
        assert settings.jwt_jwks_url and settings.jwt_issuer and settings.jwt_audience
        return cls(
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            tenant_claim=settings.jwt_tenant_claim,
            algorithms=settings.jwt_algorithms,
            leeway_s=settings.jwt_leeway_s,
            cache_s=settings.jwks_cache_s,
        )

    async def tenant_of(self, token: str) -> UUID:
        try:
            # PyJWT's client fetches with urllib: off the event loop (a cache hit is quick)
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", self._claim]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise IssuerUnavailable(f"the token issuer's keys could not be fetched: {exc}") from exc
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token was refused: {exc}") from None
        try:
            return UUID(str(claims[self._claim]))
        except ValueError:
            raise Unauthenticated(
                f"the token's {self._claim!r} claim is not a tenant UUID"
            ) from None


@dataclass(frozen=True, slots=True)
class Authentication:
    """The gateway's check of a request's credential, with failures limited per address."""

    mode: AuthMode
    authenticator: Authenticator | None = None  # None in `header` mode, or before startup
    limiter: RefusalMemo | None = None  # None: failures are not limited (rate limits off)
    failures: Limit = FAILURES

    @property
    def verifies(self) -> bool:
        """Whether requests need a credential (`token` and `jwt`)."""
        return self.mode != "header"

    async def authenticate(self, address: str, token: str | None) -> UUID:
        """The tenant `token`, sent from `address`, names.

        Raises `Unauthenticated` (401), `RateLimited` (429: this address failed too often) or
        `IssuerUnavailable` (503)."""
        if not self.verifies:
            raise RuntimeError("authenticate() is for the token and jwt modes")
        if self.authenticator is None:  # the app's lifespan has not built it (yet)
            raise IssuerUnavailable("the gateway is not ready to check credentials")
        if token is None:  # not a guess: costs nothing from the address's bucket
            raise Unauthenticated(
                "this gateway needs a credential: send `Authorization: Bearer <token>`"
            )
        key = f"addr:{address}"
        if self.limiter is not None:
            refused = self.limiter.refusal(key, (self.failures,))
            if refused is not None:
                raise RateLimited(refused)
        try:
            tenant = await self.authenticator.tenant_of(token)
        except Unauthenticated as exc:
            log.info("authentication_failed", address=address, reason=str(exc))  # never the token
            if self.limiter is not None:
                verdict = await self.limiter.acquire(key, (self.failures,))
                if not verdict.allowed:
                    log.warning("authentication_locked", address=address, for_s=verdict.retry_after)
                    raise RateLimited(verdict) from None
            raise
        return tenant


def agree(tenant: UUID, claimed: UUID | None) -> UUID:
    """The authenticated tenant, if the X-User-ID sent beside the credential (if any) names it."""
    if claimed is not None and claimed != tenant:
        raise WrongTenant()
    return tenant
