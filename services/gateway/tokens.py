"""Per-tenant API tokens (TESSERA_GATEWAY_AUTH=token): their format, check, store and cache.

A token reads `tsr_<id>_<secret>`. The id is public and finds the stored row; the secret is 32
random bytes of which only a SHA-256 digest is stored (the secret's entropy makes a slow hash
pointless). A presented token is found by its id, then its digest is compared with
`hmac.compare_digest`, so the comparison takes the same time however much of it matches.
The plain token is shown once, when `tessera tenants token create` makes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from tessera.gateway.errors import Unauthenticated

PREFIX = "tsr_"
ID_BYTES, SECRET_BYTES = 6, 32


class TokenRecord(BaseModel):
    """A stored token: never its secret, only the secret's digest."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    tenant_id: UUID
    digest: bytes
    label: str = ""
    created_at: datetime | None = None
    revoked_at: datetime | None = None


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_token(entropy: Callable[[int], bytes] = secrets.token_bytes) -> tuple[str, str, bytes]:
    """A fresh token: (token id, the whole token to hand out once, the digest to store)."""
    token_id = entropy(ID_BYTES).hex()
    secret = base64.urlsafe_b64encode(entropy(SECRET_BYTES)).decode().rstrip("=")
    return token_id, f"{PREFIX}{token_id}_{secret}", digest(secret)


def split(token: str) -> tuple[str, str]:
    """The (id, secret) of a presented token; `Unauthenticated` when it is not one."""
    head, _, rest = token.partition(PREFIX)
    token_id, sep, secret = rest.partition("_")
    if head or not sep or len(token_id) != 2 * ID_BYTES or not secret:
        raise Unauthenticated(f"not a Tessera API token (they read {PREFIX}<id>_<secret>)")
    return token_id, secret


def verify(token: str, record: TokenRecord | None) -> UUID:
    """The tenant of `token` if `record` (its id's stored row, if any) holds its digest."""
    _, secret = split(token)
    # compared even without a record, so that an unknown id costs what a wrong secret costs
    expected = record.digest if record is not None else b"\0" * hashlib.sha256().digest_size
    matches = hmac.compare_digest(expected, digest(secret))
    if record is None or not matches:
        raise Unauthenticated("unknown API token")
    if record.revoked_at is not None:
        raise Unauthenticated("this API token was revoked")
    return record.tenant_id


class TokenStore(Protocol):
    """Port: a token's stored row by its id."""

    async def get(self, token_id: str) -> TokenRecord | None: ...


class PgTokenStore:
    """The `api_tokens` table (migration 0004)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, token_id: str) -> TokenRecord | None:
        row = await self._pool.fetchrow("SELECT * FROM api_tokens WHERE token_id = $1", token_id)
        return TokenRecord(**dict(row)) if row is not None else None

    async def create(self, tenant: UUID, label: str = "") -> tuple[TokenRecord, str]:
        """Store a new token of `tenant`; returns its row and the token (shown once)."""
        token_id, token, token_digest = new_token()
        row = await self._pool.fetchrow(
            "INSERT INTO api_tokens (token_id, tenant_id, digest, label) VALUES ($1, $2, $3, $4)"
            " RETURNING *",
            token_id,
            tenant,
            token_digest,
            label,
        )
        return TokenRecord(**dict(row)), token

    async def list(self, tenant: UUID | None = None) -> list[TokenRecord]:
        rows = await self._pool.fetch(
            "SELECT * FROM api_tokens WHERE $1::uuid IS NULL OR tenant_id = $1"
            " ORDER BY created_at, token_id",
            tenant,
        )
        return [TokenRecord(**dict(r)) for r in rows]

    async def revoke(self, token_id: str) -> TokenRecord | None:
        """Revoke a token (a no-op for one already revoked); None when there is no such id."""
        row = await self._pool.fetchrow(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1"
            " RETURNING *",
            token_id,
        )
        return TokenRecord(**dict(row)) if row is not None else None


class TokenAuthenticator:
    """Checks API tokens against a store, caching each id's row (or its absence) for `cache_s`:
    a revoked token keeps working for at most that long, and a caller repeating a token costs
    no database round trip meanwhile."""

    def __init__(
        self,
        store: TokenStore,
        *,
        cache_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._store = store
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, TokenRecord | None]] = OrderedDict()

    async def tenant_of(self, token: str) -> UUID:
        token_id, _ = split(token)
        return verify(token, await self._record(token_id))

    async def _record(self, token_id: str) -> TokenRecord | None:
        now = self._monotonic()
        cached = self._cache.get(token_id)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        record = await self._store.get(token_id)
        if self._cache_s > 0:
            self._cache[token_id] = (now, record)
            self._cache.move_to_end(token_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return record
