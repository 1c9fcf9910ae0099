"""The inference worker's window (pure): what it may fetch, which batch the model takes next."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tessera.inference.pipeline import Pipeline


def test_batches_start_in_fetch_order_once_read_and_the_model_takes_one_at_a_time() -> None:
    flow = Pipeline[str](prefetch=2, post=1)
    assert flow.fetch_room() == 2
    flow.fetched("a")
    flow.fetched("b")
    assert flow.fetch_room() == 0
    flow.prepared("b")
    assert flow.next_batch() is None  # "a" is not read yet: "b" waits behind it
    flow.prepared("a")
    assert flow.next_batch() == "a"
    flow.started("a")
    assert flow.next_batch() is None and flow.fetch_room() == 1  # the model is busy
    flow.forwarded("a")
    assert flow.next_batch() == "b"  # the model moves on while "a" is post-processed


def test_without_post_threads_each_batch_is_finished_before_the_next_starts() -> None:
    flow = Pipeline[str](prefetch=1, post=0)
    flow.fetched("a")
    flow.prepared("a")
    flow.started("a")
    flow.forwarded("a")
    flow.fetched("b")
    flow.prepared("b")
    assert flow.next_batch() is None
    flow.finished("a")
    assert flow.next_batch() == "b"


def test_a_stopping_pipeline_gives_back_what_did_not_start_and_takes_nothing_more() -> None:
    flow = Pipeline[str](prefetch=2, post=1)
    for b in ("a", "b", "c"):
        flow.fetched(b)
        flow.prepared(b)
    flow.started("a")
    assert flow.stop() == ["b", "c"]
    assert flow.fetch_room() == 0 and flow.next_batch() is None
    flow.forwarded("a")
    assert flow.next_batch() is None and flow.in_hand == 1


@given(st.integers(1, 4), st.integers(0, 3), st.lists(st.integers(0, 3), max_size=200))
def test_a_worker_never_holds_more_than_prefetch_plus_one_plus_post(
    prefetch: int, post: int, steps: list[int]
) -> None:
    flow = Pipeline[int](prefetch, post)
    fetched: list[int] = []
    order: list[int] = []
    for step in steps:
        if step == 0 and flow.fetch_room():
            fetched.append(len(fetched))
            flow.fetched(fetched[-1])
            flow.prepared(fetched[-1])
        elif step == 1 and (b := flow.next_batch()) is not None:
            flow.started(b)
            order.append(b)
        elif step == 2 and flow.on_model is not None:
            flow.forwarded(flow.on_model)
        elif step == 3 and flow.finishing:
            flow.finished(min(flow.finishing))
        assert flow.in_hand <= prefetch + 1 + post
        assert len(flow.finishing) <= post + 1
    assert order == sorted(order) == fetched[: len(order)]
