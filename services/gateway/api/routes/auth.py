"""GET /v1/auth: the credential this gateway wants (public: a client asks before it has one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from tessera.gateway.api.deps import TENANT_HEADER, AuthDep, SettingsDep, bearer
from tessera.gateway.api.models import AuthDescriptor, JwtHints
from tessera.gateway.auth import bearer_token
from tessera.gateway.middleware.auth import client_address

router = APIRouter(tags=["auth"])


@router.get("/auth", response_model=AuthDescriptor)
async def describe_auth(
    request: Request,
    settings: SettingsDep,
    gate: AuthDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> AuthDescriptor:
    """The authentication mode, and for `jwt` the issuer and audience tokens must carry.

    Needs no credential. One that is sent is checked (token and jwt modes): its tenant is in
    `tenant`, and an invalid one is refused with 401 like on every other route, counting towards
    the address's failed-authentication limit. A client can so check a token before keeping it.
    """
    tenant = None
    token = bearer_token(request.headers.get("authorization")) if gate.verifies else None
    if token is not None:
        tenant = await gate.authenticate(client_address(request.scope), token)
    hints = None
    if settings.auth == "jwt":
        assert settings.jwt_issuer and settings.jwt_audience
        hints = JwtHints(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            tenant_claim=settings.jwt_tenant_claim,
        )
    return AuthDescriptor(mode=settings.auth, tenant_header=TENANT_HEADER, tenant=tenant, jwt=hints)
