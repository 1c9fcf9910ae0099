"""The tests' one wait-until helper (tests/polling.py)."""

from __future__ import annotations

import itertools

import pytest

from tests.polling import eventually


async def test_eventually_returns_the_first_wanted_answer() -> None:
    counter = itertools.count()

    async def probe() -> int:
        return next(counter)

    assert await eventually(probe, lambda n: n >= 3, every=0) == 3


async def test_eventually_fails_with_what_and_the_last_answer() -> None:
    async def probe() -> str:
        return "still pending"

    with pytest.raises(AssertionError, match=r"the job SUCCEEDED did not hold .* 'still pending'"):
        await eventually(probe, lambda s: s == "done", timeout=0.05, what="the job SUCCEEDED")
