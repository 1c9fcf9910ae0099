"""The JetStream bus against the bus contract (the in-memory bus runs it in tests/unit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tessera.bus import JetStreamBus
from tests.unit.bus_contract import BusContract


class TestJetStreamBus(BusContract):
    @pytest.fixture
    def later(self, bus: JetStreamBus) -> Callable[[float], Awaitable[None]]:
        return asyncio.sleep
