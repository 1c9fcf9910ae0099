"""The behaviour every `RateLimiter` adapter must have; subclassed once per adapter.

A subclass provides a `limiter` fixture built on the `clock` fixture (a `FakeClock`), so that
time only moves when a test moves it. The oracle test replays a random schedule against the
adapter and against the pure `gcra` function: for the Redis adapter that proves the Lua script
and the Python maths agree to the microsecond.
"""

from __future__ import annotations

import random

import pytest

from tessera.gateway.ratelimit import Limit, RateLimiter, gcra

API = Limit("api", rate=10.0, burst=5)
SUBMIT = Limit("submissions", rate=1.0, burst=2)


class FakeClock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class RateLimiterContract:
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    async def test_a_burst_is_admitted_then_refused_with_the_wait(
        self, limiter: RateLimiter
    ) -> None:
        verdicts = [await limiter.acquire("t1", [API]) for _ in range(6)]
        assert [v.allowed for v in verdicts] == [True] * 5 + [False]
        assert [v.remaining for v in verdicts] == [4, 3, 2, 1, 0, 0]
        refused = verdicts[-1]
        assert refused.limit == API
        assert refused.retry_after == pytest.approx(0.1)
        assert refused.reset_after == pytest.approx(0.5)
        assert verdicts[0].reset_after == pytest.approx(0.1)

    async def test_the_bucket_refills_at_its_rate(
        self, limiter: RateLimiter, clock: FakeClock
    ) -> None:
        for _ in range(5):
            assert (await limiter.acquire("t1", [API])).allowed
        assert not (await limiter.acquire("t1", [API])).allowed
        clock.advance(0.1)
        assert (await limiter.acquire("t1", [API])).allowed
        assert not (await limiter.acquire("t1", [API])).allowed
        clock.advance(10.0)  # long idle: full again, never more than the burst
        assert [(await limiter.acquire("t1", [API])).allowed for _ in range(6)] == [True] * 5 + [
            False
        ]

    async def test_a_refusal_spends_nothing(self, limiter: RateLimiter, clock: FakeClock) -> None:
        for _ in range(5):
            await limiter.acquire("t1", [API])
        for _ in range(20):
            assert not (await limiter.acquire("t1", [API])).allowed
        clock.advance(0.1)
        assert (await limiter.acquire("t1", [API])).allowed

    async def test_tenants_and_buckets_are_independent(self, limiter: RateLimiter) -> None:
        for _ in range(5):
            await limiter.acquire("t1", [API])
        assert not (await limiter.acquire("t1", [API])).allowed
        assert (await limiter.acquire("t2", [API])).allowed
        assert (await limiter.acquire("t1", [SUBMIT])).allowed

    async def test_several_buckets_spend_all_or_nothing(
        self, limiter: RateLimiter, clock: FakeClock
    ) -> None:
        both = [API, SUBMIT]
        first, second, third = [await limiter.acquire("t1", both) for _ in range(3)]
        assert first.allowed and second.allowed
        assert (first.limit, first.remaining) == (SUBMIT, 1)  # the tighter bucket speaks
        assert not third.allowed
        assert third.limit == SUBMIT
        assert third.retry_after == pytest.approx(1.0)
        # the refused submission did not spend from `api`: 3 of its 5 are left
        assert [(await limiter.acquire("t1", [API])).allowed for _ in range(4)] == [
            True,
            True,
            True,
            False,
        ]

    async def test_agrees_with_the_pure_gcra(self, limiter: RateLimiter, clock: FakeClock) -> None:
        rng = random.Random(7)
        limits = {"a": [API], "s": [API, SUBMIT]}
        tats: dict[tuple[str, str], int] = {}
        for _ in range(300):
            clock.advance(rng.choice([0.0, 0.0, 0.013, 0.05, 0.2, 1.1]))
            tenant = rng.choice(["x", "y"])
            chosen = limits[rng.choice("aas")]
            got = await limiter.acquire(tenant, chosen)
            now = int(clock() * 1_000_000)
            keys = [(tenant, lim.name) for lim in chosen]
            want, new = gcra(now, [(lim, tats.get(k)) for lim, k in zip(chosen, keys, strict=True)])
            if want.allowed:
                tats.update(zip(keys, new, strict=True))
            assert got == want, (got, want)
