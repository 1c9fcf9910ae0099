"""The Redis rate limiter passes the same contract as the in-process one (Lua == Python), and a
dead Redis turns into local limits, not errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from tessera.embedded import ServerURLs, free_port
from tessera.gateway.errors import LimiterUnavailable
from tessera.gateway.ratelimit import FallbackRateLimiter, LocalRateLimiter, RedisRateLimiter
from tests.unit.gateway.ratelimit_contract import API, FakeClock, RateLimiterContract

pytestmark = pytest.mark.integration


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def limiter(
        self, servers: ServerURLs, clock: FakeClock
    ) -> AsyncIterator[RedisRateLimiter]:
        limiter = RedisRateLimiter.from_url(
            servers.redis_url, prefix=f"test{uuid.uuid4().hex[:8]}:rl", clock=clock
        )
        yield limiter
        await limiter.close()


async def test_a_dead_redis_fails_fast_and_the_fallback_keeps_limiting() -> None:
    dead = RedisRateLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="x")
    started = time.monotonic()
    with pytest.raises(LimiterUnavailable):
        await dead.acquire("t", [API])
    assert time.monotonic() - started < 1.0
    assert await dead.ping() is False
    limiter = FallbackRateLimiter(dead, LocalRateLimiter(), cooldown_s=60)
    verdicts = [await limiter.acquire("t", [API]) for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert limiter.degraded
    await limiter.close()
