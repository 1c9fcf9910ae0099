"""Authentication of every /v1 request in the `token` and `jwt` modes (see `tessera.gateway.auth`).

Runs before routing and before the per-tenant rate limit, so that a route cannot forget it, no
request reaches a handler unauthenticated, and a caller without a credential cannot spend a
tenant's bucket by naming it. The authenticated tenant goes to the request's state, where the
`TenantDep` dependency and the rate limit read it. `header` mode passes everything through (the
dependency reads X-User-ID as before). The auth descriptor (`GET /v1/auth`) is public; the
WebSocket authenticates in its route, after accepting, so that a refusal reaches the client as a
close code.

`HideQueryCredential` takes an `?access_token=` (the WebSocket's query-parameter credential) out
of the request's query string before anything runs, into the request's state: uvicorn's access
and WebSocket log lines print the query string of this very scope. `RedactCredentials` is the
second line: a logging filter on the server's loggers (at DEBUG, uvicorn's WebSocket protocol
logs every handshake header, `bearer.<token>` subprotocols and Authorization included).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tessera.gateway.api import errors
from tessera.gateway.api.deps import TENANT_HEADER, TOKEN_QUERY, claimed_tenant
from tessera.gateway.auth import Authentication, AuthMode, agree, bearer_token
from tessera.gateway.errors import GatewayError

PUBLIC = frozenset({"/v1/auth"})


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class Authenticate:
    def __init__(self, app: ASGIApp, *, mode: AuthMode, prefix: str = "/v1") -> None:
        self.app = app
        self.mode = mode
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            self.mode == "header"
            or scope["type"] != "http"
            or not (path == self.prefix or path.startswith(self.prefix + "/"))
            or path.rstrip("/") in PUBLIC
        ):
            await self.app(scope, receive, send)
            return
        gate: Authentication = scope["app"].state.auth
        headers = Headers(scope=scope)
        try:
            tenant = await gate.authenticate(
                client_address(scope), bearer_token(headers.get("authorization"))
            )
            agree(tenant, claimed_tenant(headers.get(TENANT_HEADER)))
        except (GatewayError, HTTPException) as exc:
            await errors.auth_refusal(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        await self.app(scope, receive, send)


class HideQueryCredential:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._needle = TOKEN_QUERY.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if scope["type"] in ("http", "websocket") and self._needle in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            tokens = [v for k, v in pairs if k == TOKEN_QUERY]
            if tokens:
                # in place: the server logs from this dict, not from a copy
                scope["query_string"] = urlencode(
                    [(k, v) for k, v in pairs if k != TOKEN_QUERY]
                ).encode("latin-1")
                scope.setdefault("state", {})[TOKEN_QUERY] = tokens[-1]
        await self.app(scope, receive, send)


class RedactCredentials(logging.Filter):
    """Replaces bearer credentials in a log record's message by `[hidden]`."""

    PATTERN = re.compile(r"(?i)(authorization:\s*bearer\s+|bearer\.|access_token=)[^\s,;&\"']+")
    LOGGERS = ("uvicorn.error", "uvicorn.access", "websockets.server")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.PATTERN.sub(r"\1[hidden]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True

    @classmethod
    def install(cls) -> None:
        """On the server's loggers, once per process."""
        for name in cls.LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, cls) for f in logger.filters):
                logger.addFilter(cls())
