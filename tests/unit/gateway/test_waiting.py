"""Why a PENDING job waits: one worked example per reason, and the order they are checked in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tessera.gateway.waiting import waiting_reasons

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def job(job_id: str, position: int, **fields: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "position": position,
        "branch": "main",
        "depends_on": [],
        "state": "PENDING",
        "attempt": 0,
        "retries": 0,
        "retry_at": None,
        **fields,
    }


def reasons(state: str, jobs: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    context = {"admission_position": None, "running": 0, "max_workers": 4, "now": NOW} | context
    return waiting_reasons(state, jobs, **context)


def test_a_queued_workflow_waits_for_its_tenants_turn_with_the_tenants_ahead() -> None:
    (waiting,) = reasons("QUEUED", [job("a", 0)], admission_position=3).values()
    assert waiting.kind == "admission"
    assert (waiting.details.position, waiting.details.tenants_ahead) == (3, 2)
    assert waiting.words == "waits for its tenant's turn: #3 in the admission line, 2 tenants ahead"
    head = reasons("QUEUED", [job("a", 0)], admission_position=1)["a"]
    assert head.words.endswith("#1 in the admission line, nobody is ahead")


def test_a_job_behind_another_in_its_lane_names_the_job_ahead() -> None:
    jobs = [
        job("a", 0, state="SUCCEEDED"),
        job("b", 1, state="RUNNING", attempt=1),
        job("c", 2),
        job("x", 3, branch="other"),
    ]
    out = reasons("RUNNING", jobs)
    assert set(out) == {"c", "x"}  # only PENDING jobs wait
    assert out["c"].kind == "lane" and out["c"].details.jobs == ["b"]
    assert out["c"].words == "waits for job 'b' ahead of it in branch 'main' (RUNNING)"
    assert out["x"].kind == "worker_slot"  # the other lane is not held up by b


def test_a_job_waits_for_the_dependencies_that_have_not_succeeded() -> None:
    jobs = [
        job("mask", 0, branch="qc", state="RUNNING", attempt=1),
        job("tiles", 1, branch="t", state="SUCCEEDED"),
        job("norm", 2, branch="n"),
        job("cells", 3, depends_on=["mask", "tiles", "norm"]),
    ]
    cells = reasons("RUNNING", jobs)["cells"]
    assert cells.kind == "dependencies" and cells.details.jobs == ["mask", "norm"]
    assert cells.words == "waits for its dependencies 'mask', 'norm' to succeed (RUNNING, PENDING)"


def test_a_job_in_backoff_says_until_when_and_which_attempt_comes() -> None:
    due = NOW + timedelta(seconds=20)
    retrying = job("a", 0, attempt=1, retries=2, retry_at=due)
    waiting = reasons("RUNNING", [retrying])["a"]
    assert waiting.kind == "retry"
    assert (waiting.details.until, waiting.details.next_attempt) == (due, 2)
    assert waiting.words == "retries at 12:00:20 UTC (attempt 2 of 3) after its attempt 1 failed"
    # once the backoff is over it waits for a slot like any ready job
    over = reasons("RUNNING", [retrying], now=due + timedelta(seconds=1))["a"]
    assert over.kind == "worker_slot"


def test_a_ready_job_waits_for_a_worker_slot_when_all_are_busy() -> None:
    busy = reasons("RUNNING", [job("a", 0)], running=4, max_workers=4)["a"]
    assert busy.kind == "worker_slot"
    assert (busy.details.running, busy.details.max_workers) == (4, 4)
    assert busy.words == "waits for a free worker slot: all 4 are busy"
    free = reasons("RUNNING", [job("a", 0)], running=1, max_workers=4)["a"]
    assert free.words == "next for a worker slot (1 of 4 busy)"


def test_the_first_obstacle_is_named_admission_then_backoff_then_lane_then_dependencies() -> None:
    jobs = [
        job("dep", 0, branch="d"),
        job("head", 1, state="RUNNING", attempt=1),
        job("c", 2, depends_on=["dep"], attempt=1, retry_at=NOW + timedelta(seconds=5)),
        job("d", 3, depends_on=["dep"]),
    ]
    assert {j: w.kind for j, w in reasons("QUEUED", jobs).items()} == {
        "dep": "admission",
        "c": "admission",
        "d": "admission",
    }
    kinds = {j: w.kind for j, w in reasons("RUNNING", jobs).items()}
    assert kinds == {"dep": "worker_slot", "c": "retry", "d": "lane"}
    jobs[1]["state"] = "SUCCEEDED"
    jobs[2]["state"] = "FAILED"  # the lane's ended jobs do not hold d back: its dependency does
    assert reasons("RUNNING", jobs)["d"].kind == "dependencies"
