"""The branch-sequencer's shell: fold the log, decide, append, answer cancel requests.

One task owns the state, so there are no locks. It reads the log in order and decides only once it
has folded everything it appended itself: its state is always a prefix of the log, so a restart
(replay from sequence 1) ends in the same state, and retry timers come back from the
JobRetryScheduled events with it. Each decision is appended with `Nats-Msg-Id` = its deterministic
id (JetStream drops a repeat) and `Nats-Expected-Last-Subject-Sequence` = the last sequence seen on
its subject: if another replica or a stale view got there first, the append is refused, the shell
folds the log further and decides again. Cancel requests arrive over request/reply and are queued
to the same task, which catches up with the whole log before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

from tessera import telemetry
from tessera.bus import Bus, Envelope, EventFeed
from tessera.cancel import CANCEL, RPC_SERVICE, CancelReply, CancelRequest
from tessera.errors import BusError, ConcurrencyConflict, Conflict, NotFound
from tessera.events import JobCancelled, subject_for, utcnow

from .domain import (
    CancelJob,
    CancelWorkflow,
    Command,
    Decision,
    SequencerState,
    Tick,
    decide,
    evolve,
    next_timer,
)

log = structlog.get_logger(__name__)

DECISIONS = frozenset(
    {"JobStarted", "JobRetryScheduled", "JobFailed", "JobCancelled", "JobSkipped",
     "WorkflowFinished"}
)  # fmt: skip
CATCH_UP_TIMEOUT_S = 5.0
IDLE_WAKEUP_S = 60.0
Pending = tuple[CancelRequest, "asyncio.Future[CancelReply]"]


class Sequencer:
    def __init__(
        self, bus: Bus, state: SequencerState, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.bus, self.state, self.clock = bus, state, clock
        self.last_seq = 0
        self.subject_seq: dict[str, int] = {}  # last sequence seen on each decision subject
        self.requests: asyncio.Queue[Pending] = asyncio.Queue()
        self._feed: EventFeed | None = None

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] = lambda: None) -> None:
        """Replay the log, then follow it and decide until `stop`; answers cancels meanwhile."""
        async with self.bus.feed(start_seq=1) as feed:
            self._feed = feed
            await self._catch_up()
            log.info("sequencer_replayed", last_seq=self.last_seq, running=self.state.running)
            sub = await self.bus.serve(
                self.bus.names.rpc(RPC_SERVICE, CANCEL), self.on_request, queue=RPC_SERVICE
            )
            on_ready()
            try:
                while not stop.is_set():
                    await self._settle()
                    await self._next_input(stop)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                while not self.requests.empty():  # answer what was asked before the drain
                    await self._answer(*self.requests.get_nowait())

    async def on_request(self, data: bytes) -> bytes:
        """NATS request handler: queue the request to the deciding task and wait for its answer."""
        try:
            request = CancelRequest.model_validate_json(data)
        except ValueError as exc:
            refused = CancelReply(outcome="refused", message=f"bad request: {exc}")
            return refused.model_dump_json().encode()
        answer: asyncio.Future[CancelReply] = asyncio.get_running_loop().create_future()
        await self.requests.put((request, answer))
        return (await answer).model_dump_json().encode()

    # --- the loop -----------------------------------------------------------------------------

    async def _next_input(self, stop: asyncio.Event) -> None:
        """Wait for new events, a cancel request, the next retry timer or `stop`; apply them."""
        assert self._feed is not None
        # a retry already due waits for a worker slot, and only an event frees one
        due, now = next_timer(self.state), self.clock()
        timeout = None if due is None or due <= now else (due - now).total_seconds()
        events = asyncio.ensure_future(self._feed.batch(max_size=500, timeout=IDLE_WAKEUP_S))
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
                self._apply(env)
        if not request.cancelled():
            await self._answer(*request.result())

    async def _settle(self) -> None:
        """Decide and append until nothing is due."""
        while decisions := decide(self.state, Tick(self.clock())):
            await self._append(decisions)
        telemetry.WORKER_ACTIVE_JOBS.set(self.state.running)
        telemetry.QUEUE_DEPTH.labels(scope="ready").set(
            sum(len(queue.ready) for queue in self.state.busy.values())
        )

    async def _answer(self, request: CancelRequest, answer: asyncio.Future[CancelReply]) -> None:
        try:
            reply = await self._cancel(request)
        except BusError as exc:
            reply = CancelReply(outcome="refused", message=f"not recorded, try again: {exc}")
        if not answer.done():
            answer.set_result(reply)

    async def _cancel(self, request: CancelRequest) -> CancelReply:
        await self._catch_up()  # answer on the whole log, not on what this task has read so far
        tenant, wid, now = request.tenant_id, request.workflow_id, self.clock()
        command: Command = (
            CancelWorkflow(tenant, wid, now, request.reason)
            if request.job_id is None
            else CancelJob(tenant, wid, request.job_id, now, request.reason)
        )
        for _ in range(3):
            try:
                decisions = decide(self.state, command)
            except NotFound as exc:
                return CancelReply(outcome="not_found", message=str(exc))
            except Conflict as exc:
                return CancelReply(outcome="refused", state=exc.state, message=str(exc))
            if await self._append(decisions):
                cancelled = [d.job_id for d in decisions if isinstance(d, JobCancelled)]
                return CancelReply(outcome="accepted", cancelled=cancelled)
        raise BusError("the log kept changing under the cancellation")

    # --- the log ------------------------------------------------------------------------------

    def _apply(self, env: Envelope) -> None:
        if env.seq <= self.last_seq:  # already folded
            return
        evolve(self.state, env.event)
        self.last_seq = env.seq
        if env.event.type in DECISIONS:
            self.subject_seq[env.subject] = env.seq
        telemetry.EVENTS_APPLIED.labels(consumer="branch-sequencer").inc()

    async def _fold_until(self, seq: int) -> None:
        assert self._feed is not None
        while self.last_seq < seq:
            env = await self._feed.get(timeout=CATCH_UP_TIMEOUT_S)
            if env is None:  # e.g. the log ends with a message that does not decode
                log.warning("log_catch_up_stalled", at=self.last_seq, wanted=seq)
                return
            self._apply(env)

    async def _catch_up(self) -> None:
        await self._fold_until(await self.bus.last_sequence())

    async def _append(self, decisions: list[Decision]) -> bool:
        """Append a wave in order, then fold up to it; False if someone else appended first."""
        last = 0
        try:
            for decision in decisions:
                subject = subject_for(decision, self.bus.names.ns)
                expected = self.subject_seq.get(subject, 0)
                last = await self.bus.append(decision, expected_last_subject_seq=expected)
                self.subject_seq[subject] = last
        except ConcurrencyConflict as exc:
            log.info("decision_superseded", subject=exc.subject)
            await self._catch_up()
            return False
        await self._fold_until(last)
        return True
