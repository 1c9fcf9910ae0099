"""The inference worker's pure decisions: how a batch is answered, forward batch size, failures.

A batch in hand ends in one `BatchOutcome` (`batch_outcome`): all its results are in RESULTS
(`Ack`); it cannot be done, so its attempt fails and the batch is terminated (`FailAttempt`,
from `failure_of`); the bus failed under it, so it is sent back and delivered again after a
backoff that grows with its deliveries (`Redeliver`: an outage or a JetStream leader election
is waited out instead of spending the batch's deliveries in a second); or it is no batch at all
(`Discard`). A batch delivered more than `max_deliveries` times fails its attempt
(`repeated_delivery`): workers keep dying on it. Which batch runs when is `pipeline.py`'s.

Synthetic tiles fail in the job's first `failing_attempts` attempts, and then with its
`failure_probability`, drawn from a seed derived from
(workflow, job, attempt, tile): the same attempt fails at the same tiles however often its
batches are redelivered, and a retry (the next attempt) draws afresh, so retries are testable.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from tessera.bus.port import retry_delay
from tessera.errors import BusError, SlideError
from tessera.segmentation.errors import ModelUnavailable
from tessera.stitching.encoding import EncodingError
from tessera.tiling.work import JobRef

CUDA_BATCH = 16
# On CPU a batch of 4-8 tiles was slower per tile than one at a time when the data plane was
# written (fragments cleaned in the model; not re-measured since, and no figure is kept in
# docs/benchmarks.md): TESSERA_INFERENCE_BATCH_SIZE or a job's batch_size overrides it.
CPU_BATCH = 1


class ModelChanged(Exception):
    """The model file a setting names is not the one the job was planned with."""


class RepeatedDelivery(Exception):
    """A batch came back too often: workers keep dying on it."""


class SyntheticTileFailed(Exception):
    """A synthetic tile drew a failure (its job's `failure_probability`)."""


def repeated_delivery(batch: int, deliveries: int, max_deliveries: int) -> RepeatedDelivery | None:
    """Why a batch must not be tried again: delivered more often than `max_deliveries`."""
    if deliveries <= max_deliveries:
        return None
    return RepeatedDelivery(
        f"tile batch {batch} was delivered {deliveries} times "
        "without being finished (workers keep failing on it)"
    )


def synthetic_tile_fails(
    ref: JobRef, tile: int, probability: float, failing_attempts: int = 0
) -> bool:
    if ref.attempt <= failing_attempts:  # every tile of the job's first N attempts
        return True
    if probability <= 0.0:
        return False
    seed = hashlib.sha256(f"{ref.workflow_id}/{ref.job_id}/{ref.attempt}/{tile}".encode())
    return random.Random(seed.digest()).random() < probability


def forward_batch_size(job_batch: int, configured: int, device_type: str) -> int:
    """Tiles per forward pass: the job's choice, else the service's, else the device's."""
    if job_batch > 0:
        return job_batch
    if configured > 0:
        return configured
    return CUDA_BATCH if device_type == "cuda" else CPU_BATCH


def failure_of(error: BaseException) -> tuple[str, bool] | None:
    """An error in a batch as (reason, retryable) for JobAttemptFailed, or None: redeliver it.

    Bus hiccups are transient and belong to the message (retried by redelivery); everything
    else fails the attempt, and the branch-sequencer decides whether to retry it.
    """
    if isinstance(error, BusError):
        return None
    if isinstance(error, SlideError):
        return f"reading tiles failed: {error}", False
    if isinstance(error, ModelUnavailable):
        return str(error), error.reason.startswith("download failed")
    if isinstance(error, ModelChanged | RepeatedDelivery | SyntheticTileFailed):
        return str(error), True
    if isinstance(error, EncodingError):
        return f"tile result cannot be sent: {error}", False
    return f"inference failed: {type(error).__name__}: {error}", True


@dataclass(frozen=True)
class Ack:
    """All the batch's results are in RESULTS: done."""


@dataclass(frozen=True)
class Redeliver:
    """Not done, and nothing wrong with the batch: deliver it again after `delay` seconds."""

    delay: float | None = None


@dataclass(frozen=True)
class Discard:
    """Not a tile batch (it does not decode): terminated, with no attempt to fail."""


@dataclass(frozen=True)
class FailAttempt:
    """The batch cannot be done: its attempt fails (JobAttemptFailed), the batch is terminated."""

    reason: str
    retryable: bool


BatchOutcome = Ack | Redeliver | FailAttempt | Discard
AGAIN = Redeliver()  # at once: a batch a stopping worker did not start


def batch_outcome(
    error: Exception | None, deliveries: int, *, decoded: bool = True
) -> BatchOutcome:
    """How a batch delivered `deliveries` times ends, given what went wrong (None: nothing)."""
    if error is None:
        return Ack()
    if not decoded:
        return Discard()
    failure = failure_of(error)
    if failure is None:
        return redelivery(deliveries)
    return FailAttempt(*failure)


def redelivery(deliveries: int) -> Redeliver:
    """Again after a backoff that grows with the deliveries (0.5 s doubling, at most 10 s); also
    for a failure that could not be appended to the log: the batch comes back to fail again."""
    return Redeliver(retry_delay(deliveries))


def hold_interval(ack_wait_s: float) -> float:
    """How often a batch in hand is reported alive: three times per ack wait."""
    return max(0.2, ack_wait_s / 3)
