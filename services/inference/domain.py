"""The inference worker's pure decisions: synthetic failures, forward batch size, failures.

Synthetic tiles fail in the job's first `failing_attempts` attempts, and then with its
`failure_probability`, drawn from a seed derived from
(workflow, job, attempt, tile): the same attempt fails at the same tiles however often its
batches are redelivered, and a retry (the next attempt) draws afresh, so retries are testable.
"""

from __future__ import annotations

import hashlib
import random

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


def hold_interval(ack_wait_s: float) -> float:
    """How often a batch in hand is reported alive: three times per ack wait."""
    return max(0.2, ack_wait_s / 3)
