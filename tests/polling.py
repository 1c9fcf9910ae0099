"""Waiting in tests: ask again until the answer is the one wanted, or fail showing the last."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    wanted: Callable[[T], object] = bool,
    *,
    timeout: float = 10.0,
    every: float = 0.02,
    what: str = "the condition",
    show: Callable[[T], Any] = repr,
) -> T:
    """Await `probe()` every `every` seconds until `wanted` holds for its answer and return that
    answer; after `timeout` seconds fail with `what` and `show` of the last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = await probe()
        if wanted(answer):
            return answer
        if loop.time() >= deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s; last: {show(answer)}")
        await asyncio.sleep(every)
