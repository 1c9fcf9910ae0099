"""The inference worker's pure decisions."""

from __future__ import annotations

import uuid

from tessera.errors import BusError, SlideError
from tessera.inference.domain import (
    Ack,
    Discard,
    FailAttempt,
    ModelChanged,
    Redeliver,
    RepeatedDelivery,
    SyntheticTileFailed,
    batch_outcome,
    failure_of,
    forward_batch_size,
    hold_interval,
    redelivery,
    repeated_delivery,
    synthetic_tile_fails,
)
from tessera.segmentation.errors import ModelUnavailable
from tessera.stitching.encoding import EncodingError
from tessera.tiling.work import JobRef

REF = JobRef(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), job_id="load", attempt=1)


def test_synthetic_failures_are_deterministic_per_attempt_and_tile() -> None:
    draws = [synthetic_tile_fails(REF, t, 0.3) for t in range(400)]
    assert draws == [synthetic_tile_fails(REF, t, 0.3) for t in range(400)]
    assert 0.2 < sum(draws) / len(draws) < 0.4
    retry = REF.model_copy(update={"attempt": 2})
    assert draws != [synthetic_tile_fails(retry, t, 0.3) for t in range(400)]
    assert not any(synthetic_tile_fails(REF, t, 0.0) for t in range(100))
    assert all(synthetic_tile_fails(REF, t, 1.0) for t in range(100))


def test_a_synthetic_jobs_first_failing_attempts_fail_at_every_tile_and_then_it_can_succeed() -> (
    None
):
    second, third = (REF.model_copy(update={"attempt": n}) for n in (2, 3))
    assert all(synthetic_tile_fails(r, t, 0.0, 2) for r in (REF, second) for t in range(50))
    assert not any(synthetic_tile_fails(third, t, 0.0, 2) for t in range(50))


def test_forward_batch_size_job_then_service_then_device() -> None:
    assert forward_batch_size(3, 8, "cuda") == 3
    assert forward_batch_size(0, 8, "cuda") == 8
    assert forward_batch_size(0, 0, "cuda") == 16
    assert forward_batch_size(0, 0, "cpu") == 1


def test_bus_errors_redeliver_everything_else_fails_the_attempt() -> None:
    assert failure_of(BusError("nats down")) is None
    assert failure_of(SlideError("a.svs", "read failed (x)")) == (
        "reading tiles failed: slide 'a.svs': read failed (x)",
        False,
    )
    assert failure_of(ModelUnavailable("m", "no such file"))[1] is False
    for retryable in (ModelChanged("x"), RepeatedDelivery("x"), SyntheticTileFailed("x")):
        assert failure_of(retryable) == ("x", True)
    assert failure_of(EncodingError("too big"))[1] is False
    assert failure_of(RuntimeError("CUDA OOM")) == (
        "inference failed: RuntimeError: CUDA OOM",
        True,
    )


def test_batches_are_held_alive_three_times_per_ack_wait() -> None:
    assert hold_interval(30.0) == 10.0
    assert hold_interval(0.3) == 0.2


def test_a_batch_is_given_up_once_delivered_more_than_the_limit() -> None:
    assert repeated_delivery(3, 2, 2) is None
    error = repeated_delivery(3, 3, 2)
    assert error is not None and "tile batch 3 was delivered 3 times" in str(error)


def test_how_a_batch_ends() -> None:
    assert batch_outcome(None, 1) == Ack()
    assert batch_outcome(ValueError("not json"), 1, decoded=False) == Discard()
    assert batch_outcome(SyntheticTileFailed("tile 3"), 1) == FailAttempt("tile 3", True)
    # a bus error sends the batch back, later the more often it came: an outage is waited out
    assert [batch_outcome(BusError("503"), n) for n in (1, 2, 3)] == [
        Redeliver(0.5),
        Redeliver(1.0),
        Redeliver(2.0),
    ]
    assert redelivery(9) == Redeliver(10.0)
