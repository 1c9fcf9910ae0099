"""GCRA maths, the local limiter (the contract), the Redis fallback and the route policy."""

from __future__ import annotations

import pytest

from tessera.gateway.errors import LimiterUnavailable
from tessera.gateway.ratelimit import (
    FallbackRateLimiter,
    Limit,
    LocalRateLimiter,
    RatePolicy,
    RefusalMemo,
    Verdict,
    gcra,
)
from tests.unit.gateway.ratelimit_contract import API, FakeClock, RateLimiterContract

US = 1_000_000


class TestLocalRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, clock: FakeClock) -> LocalRateLimiter:
        return LocalRateLimiter(clock=clock)


class TestRefusalMemo(RateLimiterContract):
    """The memo must be invisible: the same verdicts as the limiter it wraps."""

    @pytest.fixture
    def limiter(self, clock: FakeClock) -> RefusalMemo:
        return RefusalMemo(LocalRateLimiter(clock=clock), clock=clock)


class _Counting(LocalRateLimiter):
    calls = 0

    async def acquire(self, tenant: str, limits: list[Limit]) -> Verdict:  # type: ignore[override]
        self.calls += 1
        return await super().acquire(tenant, limits)


async def test_refusal_memo_spares_the_store_while_a_refusal_stands() -> None:
    clock = FakeClock()
    inner = _Counting(clock=clock)
    memo = RefusalMemo(inner, clock=clock)
    for _ in range(5):
        await memo.acquire("t", [API])
    refusals = [await memo.acquire("t", [API]) for _ in range(50)]
    assert not any(v.allowed for v in refusals)
    assert inner.calls == 6  # one refusal from the store, 49 from the memo
    clock.advance(0.05)
    assert (await memo.acquire("t", [API])).retry_after == pytest.approx(0.05)
    assert (await memo.acquire("u", [API])).allowed  # other tenants are not affected
    clock.advance(0.05)
    assert (await memo.acquire("t", [API])).allowed
    assert inner.calls == 8


def test_gcra_first_request_of_an_empty_bucket() -> None:
    verdict, tats = gcra(10 * US, [(Limit("b", rate=2.0, burst=3), None)])
    assert verdict == Verdict(True, Limit("b", 2.0, 3), 2, 0.5, 0.0)
    assert tats == [10 * US + US // 2]


def test_gcra_stale_tat_counts_as_a_full_bucket() -> None:
    limit = Limit("b", rate=2.0, burst=3)
    fresh, _ = gcra(10 * US, [(limit, None)])
    stale, _ = gcra(10 * US, [(limit, 3 * US)])
    assert fresh == stale


def test_gcra_refusal_keeps_the_tats() -> None:
    limit = Limit("b", rate=1.0, burst=1)
    verdict, tats = gcra(0, [(limit, US)])
    assert not verdict.allowed
    assert tats == [US]
    assert verdict.retry_after == 1.0


def test_gcra_needs_a_bucket_and_sane_limits() -> None:
    with pytest.raises(ValueError):
        gcra(0, [])
    with pytest.raises(ValueError):
        Limit("b", rate=0.0, burst=1)
    with pytest.raises(ValueError):
        Limit("b", rate=1.0, burst=0)


async def test_local_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock, max_keys=10)
    for i in range(50):
        await limiter.acquire(f"t{i}", [API])
    assert len(limiter._tats) <= 10
    # the most recent tenant kept its state
    for _ in range(4):
        assert (await limiter.acquire("t49", [API])).allowed
    assert not (await limiter.acquire("t49", [API])).allowed


class _Broken:
    def __init__(self) -> None:
        self.calls = 0
        self.broken = True
        self.local = LocalRateLimiter()

    async def acquire(self, tenant: str, limits: list[Limit]) -> Verdict:
        self.calls += 1
        if self.broken:
            raise LimiterUnavailable("down")
        return await self.local.acquire(tenant, limits)

    async def close(self) -> None:
        pass


async def test_fallback_limits_locally_and_leaves_the_store_alone_for_a_while() -> None:
    primary, clock, monotonic = _Broken(), FakeClock(), FakeClock(0.0)
    limiter = FallbackRateLimiter(
        primary, LocalRateLimiter(clock=clock), cooldown_s=2.0, monotonic=monotonic
    )
    verdicts = [await limiter.acquire("t", [API]) for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]  # still limited, never open
    assert primary.calls == 1  # one failed call, then the cooldown
    assert limiter.degraded
    monotonic.advance(2.0)
    primary.broken = False
    assert (await limiter.acquire("t", [API])).allowed
    assert primary.calls == 2
    assert not limiter.degraded


def test_policy_picks_buckets_by_route() -> None:
    policy = RatePolicy(
        api=Limit("api", 1, 1), submissions=Limit("submissions", 1, 1), tiles=Limit("tiles", 9, 9)
    )
    assert policy.limits_for("POST", "/v1/workflows") == (policy.api, policy.submissions)
    assert policy.limits_for("POST", "/v1/workflows/") == (policy.api, policy.submissions)
    assert policy.limits_for("GET", "/v1/workflows") == (policy.api,)
    assert policy.limits_for("GET", "/v1/anything/else") == (policy.api,)
    assert policy.limits_for("GET", "/v1") == (policy.api,)
    assert policy.limits_for("GET", "/v10/workflows") == ()
    assert policy.limits_for("GET", "/healthz") == ()
    # a viewer's tile reads spend from their own bucket, not from the API's
    assert policy.limits_for("GET", "/v1/slides/a/b.svs/dzi_files/12/3_4.jpeg") == (policy.tiles,)
    wf = "/v1/workflows/w/jobs/j/results"
    assert policy.limits_for("GET", f"{wf}/overlay_files/12/3_4.png") == (policy.tiles,)
    assert policy.limits_for("GET", f"{wf}/overlay.dzi") == (policy.api,)
    assert policy.limits_for("POST", "/v1/slides/dzi_files/x") == (policy.api,)
    # and so do the viewer's cell reads that follow each pan; the cells' files are API reads
    assert policy.limits_for("GET", f"{wf}/cells/count") == (policy.tiles,)
    assert policy.limits_for("GET", f"{wf}/cells/at") == (policy.tiles,)
    assert policy.limits_for("GET", f"{wf}/cells.geojson") == (policy.api,)
    assert policy.limits_for("GET", "/v1/slides/results/cells/count") == (policy.api,)
