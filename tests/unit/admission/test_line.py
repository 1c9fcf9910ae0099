"""The waiting line against a plain list: same order, same places, whatever joins and leaves."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.admission.line import Line


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=120))
def test_places_and_head_match_a_plain_list(ops: list[tuple[bool, int]]) -> None:
    line, model, tickets = Line(), [], {}
    for n, (join, pick) in enumerate(ops):
        if join or not model:
            tenant = uuid.UUID(int=n + 1)
            tickets[tenant] = line.join(tenant)
            model.append(tenant)
        else:  # anyone may leave: the head when granted, others when their work is cancelled
            tenant = model.pop(0 if pick % 3 else pick % len(model))
            line.leave(tickets.pop(tenant))
        assert len(line) == len(model)
        assert line.head() == (model[0] if model else None)
        for place, tenant in enumerate(model, start=1):
            assert line.position(tickets[tenant]) == place
