"""Which jobs a re-run takes, from the workflow's job states, lanes and dependencies (pure).

A FAILED or CANCELLED job comes back with what its end SKIPPED: the rest of its lane and the jobs
that depend on it, transitively. The branch-sequencer's `decide` calls `rerun_set` with plain
dictionaries, from its live state or from what it keeps of a finished workflow.
"""

from __future__ import annotations

from tessera.errors import Conflict
from tessera.workflows import TERMINAL_JOB_STATES, JobState

UNENDED = frozenset(JobState) - TERMINAL_JOB_STATES
DOOMING = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})  # for dependants


def rerun_set(
    job_id: str,
    states: dict[str, JobState],
    lanes: dict[str, list[str]],
    depends: dict[str, tuple[str, ...]],
) -> list[str]:
    """`job_id` and the SKIPPED jobs after it in its lane or depending on it, transitively, less
    those another ended job still dooms (they would be skipped again at once); job_id first,
    then submission order. Raises Conflict when the job's own dependencies doom it, or while a
    job after one of them in its lane has not ended."""
    dependants: dict[str, list[str]] = {}
    for job, deps in depends.items():
        for dep in deps:
            dependants.setdefault(dep, []).append(job)
    followers = {j: ids[i + 1 :] for ids in lanes.values() for i, j in enumerate(ids)}
    again, todo = {job_id}, [job_id]
    while todo:
        member = todo.pop()
        for other in [*followers[member], *dependants.get(member, [])]:
            if other not in again and states[other] is JobState.SKIPPED:
                again.add(other)
                todo.append(other)
    ahead = {j: ids[:i] for ids in lanes.values() for i, j in enumerate(ids)}

    def doomed(job: str) -> str | None:
        bad = [d for d in depends[job] if d not in again and states[d] in DOOMING]
        if bad:
            return f"its dependency {bad[0]!r} is {states[bad[0]].value}"
        failed = [a for a in ahead[job] if a not in again and states[a] is JobState.FAILED]
        return f"job {failed[0]!r} before it in its branch FAILED" if failed else None

    if (why := doomed(job_id)) is not None:
        state = states[job_id].value
        raise Conflict(f"job {job_id!r} cannot run: {why}; re-run that one", state=state)
    while stale := [j for j in again if j != job_id and doomed(j) is not None]:
        again.difference_update(stale)
    for member in again:  # a lane runs in order: nothing after a member may still run or wait
        branch, ids = next((b, ids) for b, ids in lanes.items() if member in ids)
        later = [j for j in ids[ids.index(member) + 1 :] if j not in again]
        busy = next((j for j in later if states[j] in UNENDED), None)
        if busy is not None:
            raise Conflict(
                f"job {busy!r} after {member!r} in branch {branch!r} is {states[busy].value}: "
                "re-run once it has ended (a lane runs in order)",
                state=states[job_id].value,
            )
    order = list(depends)
    return [job_id, *sorted(again - {job_id}, key=order.index)]
