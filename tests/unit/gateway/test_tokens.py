"""API tokens: their format, the constant-time check of a lookup, and the cache's bound on
revocation."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime

import pytest

from tessera.gateway import tokens
from tessera.gateway.errors import Unauthenticated
from tessera.gateway.tokens import TokenAuthenticator, TokenRecord, new_token, split, verify
from tests.unit.gateway.ratelimit_contract import FakeClock

TENANT = uuid.UUID("3f1c1a52-4f1e-4a7e-9d8c-2f6a1c3e5d7b")


def issued(revoked: bool = False) -> tuple[TokenRecord, str]:
    token_id, token, digest = new_token()
    revoked_at = datetime(2026, 1, 1, tzinfo=UTC) if revoked else None
    return TokenRecord(
        token_id=token_id, tenant_id=TENANT, digest=digest, revoked_at=revoked_at
    ), token


def test_a_new_token_splits_into_its_id_and_a_secret_only_its_digest_is_kept() -> None:
    token_id, token, digest = new_token()
    assert token.startswith(f"tsr_{token_id}_")
    assert split(token) == (token_id, token.removeprefix(f"tsr_{token_id}_"))
    assert digest == tokens.digest(split(token)[1])
    assert split(token)[1].encode() not in digest
    assert len({new_token()[1] for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tsr_",
        "tsr_abc",
        "tsr_0123456789ab",
        "tsr_0123456789ab_",
        "x_tsr_0123456789ab_s",
        "Bearer tsr_0123456789ab_s",
        "0123456789ab_secret",
    ],
)
def test_what_is_not_a_token_is_refused_without_a_lookup(text: str) -> None:
    with pytest.raises(Unauthenticated, match="not a Tessera API token"):
        split(text)


def test_verify_names_the_tenant_of_a_matching_token_and_refuses_every_other() -> None:
    record, token = issued()
    assert verify(token, record) == TENANT
    with pytest.raises(Unauthenticated, match="unknown"):
        verify(token[:-1] + ("A" if token[-1] != "A" else "B"), record)
    with pytest.raises(Unauthenticated, match="unknown"):
        verify(token, None)
    revoked, revoked_token = issued(revoked=True)
    with pytest.raises(Unauthenticated, match="revoked"):
        verify(revoked_token, revoked)


def test_the_digests_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check, right or wrong, found or not, goes through hmac.compare_digest with two
    digests of the same length (its time does not depend on where they differ)."""
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    record, token = issued()
    assert verify(token, record) == TENANT
    for wrong, found in ((token[:-2] + "xy", record), (token, None)):
        with pytest.raises(Unauthenticated):
            verify(wrong, found)
    assert len(calls) == 3
    assert all(len(a) == len(b) == 32 for a, b in calls)
    assert calls[0] == (record.digest, record.digest)


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[str, TokenRecord] = {}
        self.gets = 0

    async def get(self, token_id: str) -> TokenRecord | None:
        self.gets += 1
        return self.rows.get(token_id)


async def test_lookups_are_cached_and_a_revocation_bites_within_the_cache_time() -> None:
    store, clock = FakeStore(), FakeClock()
    auth = TokenAuthenticator(store, cache_s=5.0, monotonic=clock)
    record, token = issued()
    store.rows[record.token_id] = record
    for _ in range(10):
        assert await auth.tenant_of(token) == TENANT
    assert store.gets == 1
    store.rows[record.token_id] = record.model_copy(update={"revoked_at": datetime.now(UTC)})
    clock.advance(4.9)
    assert await auth.tenant_of(token) == TENANT  # still cached
    clock.advance(0.2)
    with pytest.raises(Unauthenticated, match="revoked"):
        await auth.tenant_of(token)
    assert store.gets == 2


async def test_unknown_ids_are_cached_too_and_malformed_tokens_cost_no_lookup() -> None:
    store, clock = FakeStore(), FakeClock()
    auth = TokenAuthenticator(store, cache_s=5.0, monotonic=clock, max_entries=2)
    _, stranger, _ = new_token()
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await auth.tenant_of(stranger)
    with pytest.raises(Unauthenticated):
        await auth.tenant_of("not-a-token")
    assert store.gets == 1
    for _ in range(3):  # the cache keeps at most max_entries ids
        with pytest.raises(Unauthenticated):
            await auth.tenant_of(new_token()[1])
    with pytest.raises(Unauthenticated):
        await auth.tenant_of(stranger)
    assert store.gets == 5
