"""The waiting line: tenants in FIFO order of arrival, with O(log n) places in line.

Each arrival takes the next ticket. A Fenwick tree over the tickets counts who still waits, so a
tenant's place is a prefix sum, and leaving from anywhere (the head when it is granted a slot, the
middle when all its workflows were cancelled) costs O(log n); no list is shifted. The tickets
start again from 1 whenever the line empties, which bounds the tree by the longest line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID


@dataclass(slots=True)
class Line:
    tree: list[int] = field(default_factory=lambda: [0])  # 1-based Fenwick tree over tickets
    holders: dict[int, UUID] = field(default_factory=dict)  # ticket -> waiting tenant
    first: int = 1  # the head's ticket while anyone waits (kept by `leave`, so reads stay pure)

    def __len__(self) -> int:
        return len(self.holders)

    def join(self, tenant_id: UUID) -> int:
        """Append `tenant_id` at the tail; returns its ticket."""
        if not self.holders:
            self.tree, self.first = [0], 1
        ticket = len(self.tree)
        # the node covers tickets (ticket - lowbit, ticket]: all waiting but the unset ones
        low = ticket - (ticket & -ticket)
        self.tree.append(1 + self._prefix(ticket - 1) - self._prefix(low))
        self.holders[ticket] = tenant_id
        return ticket

    def leave(self, ticket: int) -> None:
        del self.holders[ticket]
        i = ticket
        while i < len(self.tree):
            self.tree[i] -= 1
            i += i & -i
        while self.first < len(self.tree) and self.first not in self.holders:
            self.first += 1  # amortised O(1): `first` only moves forward

    def position(self, ticket: int) -> int:
        """1-based place of a waiting ticket."""
        return self._prefix(ticket)

    def head(self) -> UUID | None:
        return self.holders.get(self.first)

    def _prefix(self, i: int) -> int:
        total = 0
        while i > 0:
            total += self.tree[i]
            i -= i & -i
        return total
