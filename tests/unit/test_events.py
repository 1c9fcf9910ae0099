"""Event schemas: round trips, strictness, upcasting, subjects."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from tessera.events import (
    _UPCASTERS,
    JobFailed,
    JobPlanned,
    JobProgressed,
    JobSkipped,
    JobStarted,
    JobSucceeded,
    TenantActivated,
    WorkflowSubmitted,
    decode_event,
    encode_event,
    event_types,
    subject_for,
    upcaster,
)
from tessera.workflows import WorkflowSpec

T, W = uuid.uuid4(), uuid.uuid4()
SPEC = WorkflowSpec.model_validate({"jobs": [{"id": "a", "type": "synthetic"}]})


def test_round_trip_keeps_every_field() -> None:
    ev = WorkflowSubmitted(tenant_id=T, workflow_id=W, spec=SPEC)
    assert decode_event(encode_event(ev)) == ev


def test_events_are_frozen_and_strict() -> None:
    ev = JobProgressed(tenant_id=T, workflow_id=W, job_id="a", tiles_done=1, tiles_total=2)
    with pytest.raises(ValidationError):
        ev.tiles_done = 2  # type: ignore[misc]
    raw = json.loads(encode_event(ev)) | {"surprise": 1}
    with pytest.raises(ValidationError):
        decode_event(raw)


def test_subjects_follow_the_design() -> None:
    assert (
        subject_for(TenantActivated(tenant_id=T), "tessera")
        == f"tessera.evt.{T}._tenant.TenantActivated"
    )
    ev = JobProgressed(tenant_id=T, workflow_id=W, job_id="a", tiles_done=1, tiles_total=2)
    assert subject_for(ev, "ns") == f"ns.evt.{T}.{W}.JobProgressed"


def test_upcaster_turns_an_old_version_into_the_current_one() -> None:
    raw = json.loads(
        encode_event(
            JobProgressed(tenant_id=T, workflow_id=W, job_id="a", tiles_done=3, tiles_total=4)
        )
    )
    raw["version"] = 0
    raw["done"] = raw.pop("tiles_done")  # the shape version 0 had

    @upcaster("JobProgressed", 0)
    def rename(old: dict) -> dict:
        old["tiles_done"] = old.pop("done")
        return old

    try:
        ev = decode_event(raw)
    finally:
        _UPCASTERS.pop(("JobProgressed", 0))
    assert isinstance(ev, JobProgressed)
    assert (ev.tiles_done, ev.version) == (3, 1)


def test_a_stored_job_failed_of_version_1_reads_as_version_2_without_final() -> None:
    stored = {
        "type": "JobFailed", "version": 1, "event_id": str(uuid.uuid4()),
        "occurred_at": "2025-01-01T10:00:00Z", "tenant_id": str(T), "workflow_id": str(W),
        "job_id": "a", "attempt": 2, "reason": "boom", "final": True,
    }  # fmt: skip
    event = decode_event(json.dumps(stored))
    assert isinstance(event, JobFailed)
    assert (event.version, event.attempt, event.reason) == (2, 2, "boom")
    assert "final" not in json.loads(encode_event(event))
    assert decode_event(encode_event(event)) == event  # the current version reads as itself


def test_stored_plans_and_summaries_name_a_reused_mask_relative_to_the_results_root() -> None:
    """Version 1 stored the server's absolute path of the mask job's output."""
    absolute = f"/srv/tessera/results/{T}/{W}/mask/attempt-2"
    common = {
        "version": 1, "event_id": str(uuid.uuid4()), "occurred_at": "2025-01-01T10:00:00Z",
        "tenant_id": str(T), "workflow_id": str(W), "job_id": "cells", "attempt": 1,
    }  # fmt: skip
    planned = decode_event(
        common | {"type": "JobPlanned", "tiles_total": 3, "grid": {"mask_source": absolute}}
    )
    done = decode_event(
        common | {"type": "JobSucceeded", "summary": {"mask_source": absolute, "cell_count": 7}}
    )
    assert isinstance(planned, JobPlanned) and isinstance(done, JobSucceeded)
    assert planned.grid == {"mask_source": f"{T}/{W}/mask/attempt-2"}
    assert done.summary == {"mask_source": f"{T}/{W}/mask/attempt-2", "cell_count": 7}
    assert planned.version == done.version == 2
    without = decode_event(common | {"type": "JobSucceeded", "summary": {"mask_source": None}})
    assert without.summary == {"mask_source": None}  # type: ignore[union-attr]


def test_log_lines_carry_the_ids_of_the_event() -> None:
    from tessera.telemetry import ids_of

    ev = JobProgressed(tenant_id=T, workflow_id=W, job_id="a", tiles_done=1, tiles_total=2)
    assert ids_of(ev) == {"tenant_id": str(T), "workflow_id": str(W), "job_id": "a"}
    assert ids_of(TenantActivated(tenant_id=T)) == {"tenant_id": str(T)}


def test_event_types_names_the_classes_of_a_union() -> None:
    assert event_types(JobStarted | JobSkipped) == {"JobStarted", "JobSkipped"}
    assert event_types(JobStarted) == {"JobStarted"}


def test_the_deciders_guard_the_subjects_of_their_decision_types() -> None:
    from tessera.admission import domain as admission
    from tessera.admission import handlers as admission_shell
    from tessera.branch_sequencer import domain as sequencer
    from tessera.branch_sequencer import handlers as sequencer_shell

    assert event_types(admission.Decision) == admission_shell.DECISIONS
    assert "WorkflowAdmitted" in admission_shell.DECISIONS
    assert event_types(sequencer.Decision) == sequencer_shell.DECISIONS
    assert "JobRetryScheduled" in sequencer_shell.DECISIONS


def test_a_stored_submission_of_before_estimates_reads_without_any() -> None:
    stored = json.loads(encode_event(WorkflowSubmitted(tenant_id=T, workflow_id=W, spec=SPEC)))
    del stored["estimates"]
    event = decode_event(stored)
    assert isinstance(event, WorkflowSubmitted) and event.estimates == {}
