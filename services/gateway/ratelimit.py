"""Per-tenant rate limiting: GCRA maths, a Redis store, an in-process store, and the fallback.

GCRA (the generic cell rate algorithm) keeps one number per bucket, the theoretical arrival time
(TAT) of the next request. A bucket of `burst` requests refilled at `rate` per second admits a
request at `now` when `TAT + interval - burst * interval <= now`, and then moves TAT on by one
`interval` (= 1 / rate). All times are integer microseconds so that the Python maths and the Lua
script agree to the microsecond; the shared test suite runs both.

A request may spend from several buckets at once (every API call spends from `api`, a submission
also from `submissions`): it is admitted only if every bucket admits it, and then spends from all
of them, atomically, in one Lua call.

When Redis fails, `FallbackRateLimiter` keeps limiting with a per-process bucket per tenant
(fail *limited*, not open and not closed): with N gateway replicas a tenant may get up to N times
its rate until Redis answers again, which is re-tried after `cooldown_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from tessera.gateway.errors import LimiterUnavailable
from tessera.gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

US = 1_000_000
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket: up to `burst` requests at once, refilled at `rate` requests per second."""

    name: str
    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"bucket {self.name!r} needs rate > 0 and burst >= 1")

    @property
    def interval_us(self) -> int:
        return max(1, round(US / self.rate))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one request, from the bucket that decided it (the tightest one)."""

    allowed: bool
    limit: Limit
    remaining: int
    reset_after: float  # seconds until that bucket is full again
    retry_after: float  # seconds until the request could succeed; 0 when allowed


def gcra(now_us: int, buckets: Sequence[tuple[Limit, int | None]]) -> tuple[Verdict, list[int]]:
    """Spend one request from every bucket or from none; returns the verdict and the new TATs.

    `buckets` pairs each limit with its stored TAT (None for a bucket never used or expired).
    The new TATs equal the old ones (or `now_us`) when the request is refused.
    """
    if not buckets:
        raise ValueError("gcra needs at least one bucket")
    tats: list[int] = []
    new_tats: list[int] = []
    denied: int | None = None
    worst_retry = -1
    tightest, tightest_remaining = 0, None
    for i, (limit, stored) in enumerate(buckets):
        interval = limit.interval_us
        tat = max(stored if stored is not None else now_us, now_us)
        new_tat = tat + interval
        allow_at = new_tat - limit.burst * interval
        tats.append(tat)
        new_tats.append(new_tat)
        if now_us < allow_at:
            if allow_at - now_us > worst_retry:
                denied, worst_retry = i, allow_at - now_us
        else:
            remaining = (now_us - allow_at) // interval
            if tightest_remaining is None or remaining < tightest_remaining:
                tightest, tightest_remaining = i, remaining
    if denied is not None:
        limit = buckets[denied][0]
        verdict = Verdict(False, limit, 0, (tats[denied] - now_us) / US, worst_retry / US)
        return verdict, tats
    limit = buckets[tightest][0]
    verdict = Verdict(
        True, limit, int(tightest_remaining or 0), (new_tats[tightest] - now_us) / US, 0.0
    )
    return verdict, new_tats


class RateLimiter(Protocol):
    """Port: spend one request of `tenant` from each of `limits`."""

    async def acquire(self, tenant: str, limits: Sequence[Limit]) -> Verdict: ...

    async def close(self) -> None: ...


class LocalRateLimiter:
    """In-process buckets: the fallback when Redis is down, and the fake for tests.

    Memory is bounded: past `max_keys` buckets, full (expired) ones are swept and then the least
    recently used dropped, which only ever forgives a tenant.
    """

    def __init__(self, *, clock: Clock = time.time, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._tats: dict[tuple[str, str], int] = {}
        self._max_keys = max_keys

    async def acquire(self, tenant: str, limits: Sequence[Limit]) -> Verdict:
        now = int(self._clock() * US)
        keys = [(tenant, limit.name) for limit in limits]
        verdict, tats = gcra(
            now, [(lim, self._tats.get(k)) for lim, k in zip(limits, keys, strict=True)]
        )
        if verdict.allowed:
            for key, tat in zip(keys, tats, strict=True):
                self._tats.pop(key, None)  # re-insert: dict order is recency of use
                self._tats[key] = tat
            if len(self._tats) > self._max_keys:
                self._evict(now)
        return verdict

    def _evict(self, now: int) -> None:
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        keep = self._max_keys * 9 // 10  # some headroom, so that the next insert does not sweep
        while len(self._tats) > keep:
            del self._tats[next(iter(self._tats))]

    async def close(self) -> None:
        self._tats.clear()


# KEYS: one per bucket. ARGV[1]: now (µs); then per bucket its interval (µs) and burst.
# Returns {allowed, index of the deciding bucket (1-based), remaining, reset (µs), retry (µs)}.
GCRA_LUA = """
local now = tonumber(ARGV[1])
local n = #KEYS
local tats, new_tats = {}, {}
local denied, worst_retry = 0, -1
local tightest, tightest_remaining = 1, -1
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then tat = math.max(tonumber(stored), now) end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  tats[i], new_tats[i] = tat, new_tat
  if now < allow_at then
    if allow_at - now > worst_retry then denied, worst_retry = i, allow_at - now end
  else
    local remaining = math.floor((now - allow_at) / interval)
    if tightest_remaining < 0 or remaining < tightest_remaining then
      tightest, tightest_remaining = i, remaining
    end
  end
end
if denied > 0 then
  return {0, denied, 0, tats[denied] - now, worst_retry}
end
for i = 1, n do
  local ttl_ms = math.ceil((new_tats[i] - now) / 1000)
  redis.call('SET', KEYS[i], string.format('%d', new_tats[i]), 'PX', ttl_ms)
end
return {1, tightest, tightest_remaining, new_tats[tightest] - now, 0}
"""


class RedisRateLimiter:
    """Buckets shared by every gateway replica: one Lua script call per request.

    Keys are `<prefix>:{<tenant>}:<bucket>`; the hash tag keeps a tenant's buckets in one
    Redis Cluster slot so that one script may touch them all. Time comes from this process's
    clock (replicas are NTP-synced; a skew of d shifts a limit by d), which keeps the maths
    identical to `LocalRateLimiter` and testable with a fake clock.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        clock: Clock = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._script = client.register_script(GCRA_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str,
        timeout_s: float = 0.5,
        max_connections: int = 64,
        clock: Clock = time.time,
    ) -> RedisRateLimiter:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        return cls(aioredis.Redis(connection_pool=pool), prefix=prefix, clock=clock)

    async def acquire(self, tenant: str, limits: Sequence[Limit]) -> Verdict:
        now = int(self._clock() * US)
        keys = [f"{self._prefix}:{{{tenant}}}:{limit.name}" for limit in limits]
        args: list[int] = [now]
        for limit in limits:
            args += [limit.interval_us, limit.burst]
        try:
            allowed, index, remaining, reset_us, retry_us = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterUnavailable(f"redis: {exc}") from exc
        return Verdict(
            bool(allowed),
            limits[int(index) - 1],
            int(remaining),
            int(reset_us) / US,
            int(retry_us) / US,
        )

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
        await self._client.connection_pool.disconnect()


class FallbackRateLimiter:
    """Redis while it answers; a local bucket per tenant while it does not.

    After a failure Redis is left alone for `cooldown_s` (so a dead Redis costs one failed call
    per cooldown, not one per request), then tried again.
    """

    def __init__(
        self,
        primary: RateLimiter,
        fallback: RateLimiter,
        *,
        cooldown_s: float = 2.0,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self._cooldown = cooldown_s
        self._monotonic = monotonic
        self._down_until: float | None = None

    @property
    def degraded(self) -> bool:
        """True while requests are limited by the local buckets."""
        return self._down_until is not None

    async def acquire(self, tenant: str, limits: Sequence[Limit]) -> Verdict:
        if self._down_until is None or self._monotonic() >= self._down_until:
            try:
                verdict = await self.primary.acquire(tenant, limits)
            except LimiterUnavailable as exc:
                if self._down_until is None:
                    log.warning("rate_limit_store_down", error=str(exc), fallback="local")
                self._down_until = self._monotonic() + self._cooldown
            else:
                if self._down_until is not None:
                    log.info("rate_limit_store_recovered")
                    self._down_until = None
                return verdict
        return await self.fallback.acquire(tenant, limits)

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()


class RefusalMemo:
    """Remembers refusals so that a tenant hammering past its limit costs no Redis call.

    A bucket that refused at `t` with `retry_after` r refuses everybody until `t + r`: nothing can
    spend from it meanwhile, so its TAT stands still and asking again could only hear "no". The
    memo answers those requests itself, with the same wait; it never admits anything.
    """

    def __init__(
        self, inner: RateLimiter, *, clock: Clock = time.time, max_keys: int = 100_000
    ) -> None:
        self.inner = inner
        self._clock = clock
        self._refused: dict[tuple[str, str], tuple[int, int]] = {}  # -> (allow_at, tat) in µs
        self._max_keys = max_keys

    def refusal(self, tenant: str, limits: Sequence[Limit]) -> Verdict | None:
        """The refusal remembered for one of `tenant`'s `limits`, if it still stands; spends
        nothing (the failed-authentication gate asks before it checks a credential)."""
        now = int(self._clock() * US)  # integer µs, like the stores: the same answers exactly
        for limit in limits:
            refused = self._refused.get((tenant, limit.name))
            if refused is None:
                continue
            allow_at, tat = refused
            if now < allow_at:
                return Verdict(False, limit, 0, (tat - now) / US, (allow_at - now) / US)
            del self._refused[(tenant, limit.name)]
        return None

    async def acquire(self, tenant: str, limits: Sequence[Limit]) -> Verdict:
        refused = self.refusal(tenant, limits)
        if refused is not None:
            return refused
        now = int(self._clock() * US)
        verdict = await self.inner.acquire(tenant, limits)
        if not verdict.allowed:
            if len(self._refused) >= self._max_keys:
                self._refused = {k: v for k, v in self._refused.items() if v[0] > now}
            self._refused[(tenant, verdict.limit.name)] = (
                now + round(verdict.retry_after * US),
                now + round(verdict.reset_after * US),
            )
        return verdict

    async def close(self) -> None:
        self._refused.clear()
        await self.inner.close()


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """Which buckets a request spends from: every `/v1` call from `api`, submissions also from
    the stricter `submissions`; Deep Zoom tile reads from `tiles` alone (a viewer fetches dozens
    of tiles per pan, which would drain `api` and lock the tenant out of everything else), and so
    do the viewer's reads that follow each pan: the cells in view and the cell at a point."""

    api: Limit
    submissions: Limit
    tiles: Limit
    submission_routes: frozenset[tuple[str, str]] = frozenset({("POST", "/v1/workflows")})
    tile_folders: tuple[str, ...] = ("/dzi_files/", "/overlay_files/")
    viewer_reads: tuple[str, ...] = ("/results/cells/count", "/results/cells/at")
    prefix: str = "/v1"

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> RatePolicy:
        return cls(
            api=Limit("api", settings.api_rate_per_s, settings.api_burst),
            submissions=Limit("submissions", settings.submit_rate_per_s, settings.submit_burst),
            tiles=Limit("tiles", settings.tile_rate_per_s, settings.tile_burst),
        )

    def limits_for(self, method: str, path: str) -> tuple[Limit, ...]:
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return ()
        if (method, path.rstrip("/")) in self.submission_routes:
            return (self.api, self.submissions)
        if method in ("GET", "HEAD") and (
            any(f in path for f in self.tile_folders)
            or (
                path.startswith(self.prefix + "/workflows/")
                and path.rstrip("/").endswith(self.viewer_reads)
            )
        ):
            return (self.tiles,)
        return (self.api,)
