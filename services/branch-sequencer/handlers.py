"""The branch-sequencer's shell: fold the log, decide, append, answer cancel requests.

One task owns the state, so there are no locks. It reads the log in order and decides only once it
has folded everything it appended itself: its state is always a prefix of the log, so a restart
(its snapshot and the log after it, or the whole log) ends in the same state, and retry timers
come back from the JobRetryScheduled events with it. Each decision is appended with
`Nats-Msg-Id` = its deterministic id (JetStream drops a repeat) and
`Nats-Expected-Last-Subject-Sequence` = the last sequence seen on its subject: if another replica
or a stale view got there first, the append is refused, the shell folds the log further and
decides again. The decisions of one wave are independent of each other, so they are appended
together (pipelined, each subject's in order) rather than one round trip after the other; what
landed of a wave that failed part-way is folded from the log like everything else. Cancel and
re-run requests arrive over request/reply and are queued to the same task, which catches up with
the whole log before it answers (a re-run of a finished workflow also reads the workflow's
submission from the log: the state keeps no spec). Besides events and requests, the task wakes
when the next retry is due and when the stalest running attempt's stall deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from tessera import telemetry
from tessera.bus import Bus
from tessera.cancel import CANCEL, RPC_SERVICE, CancelReply, CancelRequest
from tessera.decider import FoldedLog
from tessera.errors import BusError, Conflict, NotFound
from tessera.events import (
    JobCancelled,
    JobRerun,
    WorkflowSubmitted,
    event_subject,
    event_types,
    utcnow,
)
from tessera.rerun import RERUN, RerunReply, RerunRequest
from tessera.snapshots import Snapshots, adopt

from .domain import (
    CancelJob,
    CancelWorkflow,
    Command,
    Decision,
    RerunJob,
    SequencerState,
    Tick,
    decide,
    evolve,
    lane_depths,
    next_stall,
    next_timer,
)
from .settings import APPEND_IN_FLIGHT

log = structlog.get_logger(__name__)

DECISIONS = event_types(Decision)  # the subjects whose last sequence each append expects
IDLE_WAKEUP_S = 60.0
LANE_DEPTHS_EVERY_S = 1.0  # reading every lane is for the metrics only: at most this often
Request = CancelRequest | RerunRequest
Reply = CancelReply | RerunReply
Pending = tuple[Request, "asyncio.Future[Reply]"]


class Sequencer:
    def __init__(
        self,
        bus: Bus,
        state: SequencerState,
        clock: Callable[[], datetime] = utcnow,
        snapshots: Snapshots | None = None,
        in_flight: int = APPEND_IN_FLIGHT,
    ) -> None:
        self.bus, self.state, self.clock = bus, state, clock
        self.fold = FoldedLog(
            bus,
            lambda event: evolve(self.state, event),
            DECISIONS,
            "branch-sequencer",
            snapshots,
            lambda: self.state,
            in_flight,  # a wave's decisions are independent (`decide`): they go out together
        )
        self.requests: asyncio.Queue[Pending] = asyncio.Queue()
        self._lanes_measured = -LANE_DEPTHS_EVERY_S

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] = lambda: None) -> None:
        """Replay the log, then follow it and decide until `stop`; answers cancels meanwhile."""
        if (saved := await self.fold.restore()) is not None:
            self.state = adopt(saved, self.state, SequencerState.SETTINGS)
        async with self.bus.feed(start_seq=self.fold.last_seq + 1) as feed:
            self.fold.feed = feed
            await self.fold.catch_up()
            self.fold.replayed()
            self.state.awake_since = self.clock()  # stall deadlines count from now at the earliest
            log.info("sequencer_replayed", last_seq=self.fold.last_seq, running=self.state.running)
            subs = [
                await self.bus.serve(
                    self.bus.names.rpc(RPC_SERVICE, verb), handler, queue=RPC_SERVICE
                )
                for verb, handler in ((CANCEL, self.on_request), (RERUN, self.on_rerun))
            ]
            on_ready()
            try:
                while not stop.is_set():
                    await self._settle()
                    await self._next_input(stop)
            finally:
                for sub in subs:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                while not self.requests.empty():  # answer what was asked before the drain
                    await self._answer(*self.requests.get_nowait())
                await self.fold.save()

    async def on_request(self, data: bytes) -> bytes:
        """NATS request handler: queue the request to the deciding task and wait for its answer."""
        return await self._queue(data, CancelRequest, CancelReply)

    async def on_rerun(self, data: bytes) -> bytes:
        """NATS request handler of re-runs, answered like cancels."""
        return await self._queue(data, RerunRequest, RerunReply)

    async def _queue(self, data: bytes, kind: type[Request], reply: type[Reply]) -> bytes:
        try:
            request = kind.model_validate_json(data)
        except ValueError as exc:
            refused = reply(outcome="refused", message=f"bad request: {exc}")
            return refused.model_dump_json().encode()
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        await self.requests.put((request, answer))
        return (await answer).model_dump_json().encode()

    # --- the loop -----------------------------------------------------------------------------

    async def _next_input(self, stop: asyncio.Event) -> None:
        """Wait for new events, a cancel request, the next timer or `stop`; apply them."""
        feed = self.fold.feed
        assert feed is not None
        now = self.clock()
        # a retry already due waits for a worker slot, and only an event frees one
        wake = [due for due in (next_timer(self.state),) if due is not None and due > now]
        if (stall := next_stall(self.state)) is not None:
            wake.append(max(stall, now))
        timeout = (min(wake) - now).total_seconds() if wake else None
        events = asyncio.ensure_future(feed.batch(max_size=500, timeout=IDLE_WAKEUP_S))
        request = asyncio.ensure_future(self.requests.get())
        stopped = asyncio.ensure_future(stop.wait())
        _, pending = await asyncio.wait(
            {events, request, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        # A read may finish while being cancelled: wait for them all and keep whatever they read.
        await asyncio.gather(*pending, return_exceptions=True)
        if not events.cancelled():
            for env in events.result():
                self.fold.apply(env)
        if not request.cancelled():
            await self._answer(*request.result())

    async def _settle(self) -> None:
        """Decide and append until nothing is due."""
        while decisions := decide(self.state, Tick(self.clock())):
            await self.fold.append(decisions)
        telemetry.WORKER_ACTIVE_JOBS.set(self.state.running)
        telemetry.QUEUE_DEPTH.labels(scope="ready").set(
            sum(len(queue.ready) for queue in self.state.busy.values())
        )
        if (now := time.monotonic()) - self._lanes_measured >= LANE_DEPTHS_EVERY_S:
            self._lanes_measured = now
            top = lane_depths(self.state, telemetry.TOP_LANES)
            telemetry.set_lane_depths([(str(t), branch, n) for t, branch, n in top])

    async def _answer(self, request: Request, answer: asyncio.Future[Reply]) -> None:
        reply: Reply
        try:
            if isinstance(request, RerunRequest):
                reply = await self._rerun(request)
            else:
                reply = await self._cancel(request)
        except BusError as exc:
            kind = RerunReply if isinstance(request, RerunRequest) else CancelReply
            reply = kind(outcome="refused", message=f"not recorded, try again: {exc}")
        if not answer.done():
            answer.set_result(reply)

    async def _rerun(self, request: RerunRequest) -> RerunReply:
        await self.fold.catch_up()
        tenant, wid = request.tenant_id, request.workflow_id
        spec = None
        if wid in self.state.ended:  # finished: the state kept no spec, the log has it
            subject = event_subject(self.bus.names.ns, tenant, wid, "WorkflowSubmitted")
            submitted = await self.bus.last_event_of(subject)
            spec = submitted.spec if isinstance(submitted, WorkflowSubmitted) else None
        command = RerunJob(tenant, wid, request.job_id, self.clock(), spec)
        try:
            decisions = await self._decided(command, "re-run")
        except (NotFound, Conflict) as exc:
            return RerunReply(**_refusal(exc))
        jobs = [j for d in decisions if isinstance(d, JobRerun) for j in d.jobs]
        return RerunReply(outcome="accepted", jobs=jobs, seq=self.fold.last_seq)

    async def _cancel(self, request: CancelRequest) -> CancelReply:
        await self.fold.catch_up()  # answer on the whole log, not on what this task has read so far
        tenant, wid, now = request.tenant_id, request.workflow_id, self.clock()
        command: Command = (
            CancelWorkflow(tenant, wid, now, request.reason)
            if request.job_id is None
            else CancelJob(tenant, wid, request.job_id, now, request.reason)
        )
        try:
            decisions = await self._decided(command, "cancellation")
        except (NotFound, Conflict) as exc:
            return CancelReply(**_refusal(exc))
        cancelled = [d.job_id for d in decisions if isinstance(d, JobCancelled)]
        return CancelReply(outcome="accepted", cancelled=cancelled, seq=self.fold.last_seq)

    async def _decided(self, command: Command, what: str) -> list[Decision]:
        """A user's request decided and in the log, decided again when the log moved on under
        it. Raises NotFound or Conflict when refused, BusError when the log keeps changing."""
        for _ in range(3):
            decisions = decide(self.state, command)
            if await self.fold.append(decisions):
                return decisions
        raise BusError(f"the log kept changing under the {what}")


def _refusal(exc: NotFound | Conflict) -> dict[str, Any]:
    if isinstance(exc, NotFound):
        return {"outcome": "not_found", "message": str(exc)}
    return {"outcome": "refused", "state": exc.state, "message": str(exc)}
