"""Idempotent submissions and uploads: the first request with a tenant's `Idempotency-Key`
makes the workflow (or the upload), a retry with the same key and body gets it back, another
body is a conflict.

Two mechanisms, each where it fits:

- The key's row in PostgreSQL (`idempotency_keys`, written by the gateway, kept by a replay)
  claims the key for one request body and one workflow id, atomically (`INSERT .. ON CONFLICT`),
  and remembers the log sequence of the submission for the whole retention (24 h by default),
  far past JetStream's duplicate window (2 minutes).
- The submission's event id is derived from (tenant, key, workflow id), so its `Nats-Msg-Id` is
  the same for every retry: retries that append at once (the first request still in flight, or
  gone before it recorded its sequence) are stored once by JetStream's de-duplication. A retry
  that finds no sequence recorded first asks the log for the workflow's `WorkflowSubmitted`, so
  one that comes after the window appends nothing either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid5

import asyncpg
from fastapi import Depends, Header

from tessera.errors import Conflict
from tessera.events import utcnow

HEADER = "Idempotency-Key"
NAMESPACE = UUID("1d6f0b8e-3c55-4a4e-9b0e-6a2f5e7d9c31")
SWEEP = 100  # expired keys removed per claim, so the table follows the retention


async def now() -> datetime:
    """The clock of key expiry (tests override this dependency)."""
    return utcnow()


Now = Annotated[datetime, Depends(now)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=200,
        description="make the request safe to retry: the same key with the same body within "
        "the retention (24 h) answers the original (200), with another body 409",
    ),
]


@dataclass(frozen=True)
class Claim:
    """What a key stands for: its resource, the write's sequence once recorded, and whether this
    request is the one that claimed it (False: a retry)."""

    resource: str
    seq: int | None
    first: bool


def request_hash(scope: str, body: Any) -> str:
    """A digest of what a request asks for: same scope and equal JSON body, same digest."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def event_id(tenant: UUID, key: str, resource: str) -> UUID:
    """The id (and Nats-Msg-Id) of the write a key makes: equal for every retry."""
    return uuid5(NAMESPACE, f"{tenant}/{key}/{resource}")


async def claim(
    conn: asyncpg.Connection,
    tenant: UUID,
    key: str,
    digest: str,
    resource: str,
    *,
    at: datetime,
    retention: timedelta,
) -> Claim:
    """Claim `key` for this request (or take over an expired claim); Conflict when it is held
    for another request body."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2))",
            at,
            SWEEP,
        )
        took = await conn.fetchval(
            """INSERT INTO idempotency_keys (tenant_id, key, request_hash, resource, expires_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (tenant_id, key) DO UPDATE
                   SET request_hash = EXCLUDED.request_hash, resource = EXCLUDED.resource,
                       seq = NULL, expires_at = EXCLUDED.expires_at
                   WHERE idempotency_keys.expires_at <= $6
               RETURNING resource""",
            tenant,
            key,
            digest,
            resource,
            at + retention,
            at,
        )
    if took is not None:
        return Claim(resource=took, seq=None, first=True)
    row = await conn.fetchrow(
        "SELECT request_hash, resource, seq FROM idempotency_keys "
        "WHERE tenant_id = $1 AND key = $2",
        tenant,
        key,
    )
    if row is None:  # expired and swept between the two statements: claim again
        return await claim(conn, tenant, key, digest, resource, at=at, retention=retention)
    if row["request_hash"] != digest:
        raise Conflict(
            f"Idempotency-Key {key!r} was used for another request body; use a new key for a "
            "new request",
            state="idempotency_key_reused",
        )
    return Claim(resource=row["resource"], seq=row["seq"], first=False)


async def record(conn: asyncpg.Connection, tenant: UUID, key: str, seq: int) -> None:
    """Remember the sequence of the key's write, so that later retries append nothing."""
    await conn.execute(
        "UPDATE idempotency_keys SET seq = $3 WHERE tenant_id = $1 AND key = $2",
        tenant,
        key,
        seq,
    )


async def release(conn: asyncpg.Connection, tenant: UUID, key: str) -> None:
    """Give a key up after its first request was refused: nothing is kept of a refused write."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2", tenant, key
    )
