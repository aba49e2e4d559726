"""Matching rounds a serving node runs by itself, and what ``casebridge schedule status`` shows of them.

Every change to our cases (an import that adds or updates a case, a close, a reopen, a delete) raises the
case generation in the store, in the change's own transaction, whichever process made it. The scheduler
looks at it once a second. For each configured peer the next round is due:

* at once when no mutual session with the peer has ever completed (the first comparison when a partner
  connects);
* ``[schedule] after_import`` seconds after it first saw a generation that no completed mutual session with
  that peer has covered (each session records the generation its elements were loaded at, in either role),
  so a burst of imports costs one round and a change the peer's own session already matched costs none;
* ``[schedule] interval`` seconds after the last completed mutual session with the peer, in either role
  (a session the peer opened compared both whole sets too), to catch up with the peer's changes;
* after a failed round, only on a backoff of 5 s doubling up to the interval, whatever changed meanwhile,
  unless a session with the peer has completed since (it answers again).

A round is one mutual session run as initiator, exactly what ``casebridge match`` runs. There is never
more than one round per peer, and none starts while any session with that peer is running, ours or its,
scheduled or typed. What each round covered and how it went is kept per peer in the store, where the
status command reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from matcher.psi import Blinder, Mode
from node.config.settings import NodeConfig, ScheduleSettings
from node.core.errors import EXPECTED_ERRORS
from node.core.processes import alive
from node.net.client import match_peer
from node.net.tls import ConfigWatch
from node.ops.background import BACKOFF_FIRST_S, Background, backoff
from node.ops.context import Operations
from node.ops.matching import close_interrupted_initiators
from node.store import reading, unit_of_work
from node.store import schedule as store
from node.store.epochs import current_epoch

__all__ = ["BACKOFF_FIRST_S", "Due", "PeerSchedule", "ScheduleStatus", "Scheduler", "backoff", "plan", "status"]

log = logging.getLogger("casebridge.schedule")

TICK_S = 1.0


@dataclass(frozen=True)
class Due:
    at: datetime
    cause: str  # first | cases changed | interval | retry


def plan(
    row: store.RoundRow,
    generation: int,
    changed_seen: datetime | None,
    last_done: datetime | None,
    now: datetime,
    settings: ScheduleSettings,
) -> Due:
    """When the next round with ``row.peer`` is due, and why (see the module text)."""
    failing = row.failures > 0 and row.last_at is not None
    if failing and last_done is not None and last_done >= _parse(str(row.last_at)):
        failing = False  # a session with the peer completed since: it answers again
    if failing:
        return Due(_parse(str(row.last_at)) + timedelta(seconds=backoff(row.failures, settings.interval)), "retry")
    if last_done is None:
        return Due(now, "first")
    options = [Due(last_done + timedelta(seconds=settings.interval), "interval")]
    if generation > row.covered and changed_seen is not None:
        options.append(Due(changed_seen + timedelta(seconds=settings.after_import), "cases changed"))
    return min(options, key=lambda due: due.at)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class _View:
    generation: int
    rows: dict[str, store.RoundRow]
    last_done: dict[str, tuple[str, int]]  # finished at, generation covered
    busy: set[str]


class Scheduler(Background):
    """Runs rounds with every configured peer as they fall due, on the serving node's event loop."""

    task_name = "scheduler"

    def __init__(self, ops: Operations, watch: ConfigWatch, blinder: Blinder, grace: float) -> None:
        super().__init__()
        self.ops = ops
        self.watch = watch
        self.blinder = blinder
        self.grace = grace
        self.rounds_finished = 0
        self._changed_seen: dict[str, datetime] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._problem: str | None = None

    async def stop(self) -> None:
        """No new round starts; running ones get ``grace`` seconds, then are cancelled (and recorded so)."""
        if self._task is None:
            return
        await super().stop()
        if self._running:
            _, pending = await asyncio.wait(list(self._running.values()), timeout=self.grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(*EXPECTED_ERRORS):
            await asyncio.to_thread(self._claim, 0)

    async def _loop(self) -> None:
        await asyncio.to_thread(self._claim, os.getpid())
        while not self.stopping:
            try:
                await self._tick()
                self._report(None)
            except EXPECTED_ERRORS as exc:  # a locked store, an unusable config: said once, tried again
                self._report(str(exc))
            except Exception as exc:  # supervision: the schedule goes on
                self._report(f"unexpected error ({type(exc).__name__})")
            await self.pause(TICK_S)

    def _report(self, problem: str | None) -> None:
        if problem != self._problem and problem is not None:
            log.error("scheduling rounds failed: %s; trying again every %.0f s", problem, TICK_S)
        elif problem is None and self._problem is not None:
            log.info("scheduling rounds works again")
        self._problem = problem

    def _claim(self, pid: int) -> None:
        with unit_of_work(self.ops.home) as db:
            store.set_marker(db, store.SCHEDULER_PID, pid)

    async def _tick(self) -> None:
        config = self.watch.get()
        if not config.schedule.enabled:
            return
        view = await asyncio.to_thread(self._read)
        if view.busy - set(self._running):
            # A session of a ``match`` killed mid-way would keep its peer busy for good: close those first.
            await asyncio.to_thread(close_interrupted_initiators, self.ops)
            view = await asyncio.to_thread(self._read)
        now = self.ops.clock.now()
        updates: list[store.RoundRow] = []
        for peer in config.peers:
            code = peer.code
            if code in self._running:
                continue
            row = view.rows.get(code, store.RoundRow(code))
            done, covered = view.last_done.get(code, (None, 0))
            if covered > row.covered:  # a session the peer opened, or one typed by hand, covered it
                row = replace(row, covered=covered)
            if view.generation > row.covered:
                self._changed_seen.setdefault(code, now)
            else:
                self._changed_seen.pop(code, None)
            due = plan(row, view.generation, self._changed_seen.get(code), None if done is None else _parse(done),
                       now, config.schedule)  # fmt: skip
            waiting = due.at <= now and code in view.busy
            cause = f"{due.cause}, waiting for the session running with the peer" if waiting else due.cause
            planned = replace(row, next_at=due.at.isoformat(timespec="seconds"), next_cause=cause)
            if planned != row:
                updates.append(planned)
            if due.at <= now and not waiting:
                self._start_round(config, code, due.cause, view.generation)
        if updates:
            await asyncio.to_thread(self._save, updates)

    def _read(self) -> _View:
        with reading(self.ops.home) as db:
            return _View(
                generation=store.marker(db, store.CASES_GENERATION) or 0,
                rows=store.round_rows(db),
                last_done=store.last_completed(db),
                busy=store.peers_in_session(db),
            )

    def _save(self, rows: list[store.RoundRow]) -> None:
        with unit_of_work(self.ops.home) as db:
            for row in rows:
                store.save_round(db, row)

    def _start_round(self, config: NodeConfig, code: str, cause: str, generation: int) -> None:
        self._changed_seen.pop(code, None)
        task = asyncio.get_running_loop().create_task(self._round(config, code, cause, generation),
                                                      name=f"round-{code}")  # fmt: skip
        self._running[code] = task
        task.add_done_callback(lambda _: self._running.pop(code, None))

    async def _round(self, config: NodeConfig, code: str, cause: str, generation: int) -> None:
        peer = config.peer(code)
        if peer is None:
            return
        log.info("round with %s (%s): starting", code, cause)
        try:
            outcome = await match_peer(self.ops.home, config, peer, Mode.MUTUAL, blinder=self.blinder)
            ok, error = outcome.status == "completed", outcome.error
        except EXPECTED_ERRORS as exc:
            ok, error = False, f"{code}: {exc}"
        except Exception as exc:  # supervision: a failed round is retried, the schedule goes on
            ok, error = False, f"{code}: unexpected error ({type(exc).__name__})"
        if ok:
            log.info("round with %s: completed, %s new alert(s), %s gone", code, outcome.new_alerts,
                     outcome.gone_alerts)  # fmt: skip
        else:
            log.warning("round with %s failed: %s", code, error)
        try:
            await asyncio.to_thread(self._record, code, cause, generation, ok, error)
        except EXPECTED_ERRORS as exc:  # the session itself is recorded; only the round's summary is lost
            log.error("could not record the round with %s: %s", code, exc)
        self.rounds_finished += 1

    def _record(self, code: str, cause: str, generation: int, ok: bool, error: str | None) -> None:
        with unit_of_work(self.ops.home) as db:
            row = store.round_rows(db).get(code, store.RoundRow(code))
            store.save_round(db, replace(
                row,
                covered=max(row.covered, generation) if ok else row.covered,
                failures=0 if ok else row.failures + 1,
                last_cause=cause,
                last_at=self.ops.now_iso(),
                last_outcome="completed" if ok else "failed",
                last_error=None if ok else error,
            ))  # fmt: skip


@dataclass(frozen=True)
class PeerSchedule:
    """One peer's line in ``schedule status``."""

    peer: str
    kind: str  # the next round we open: a delta of our open epoch with the peer, or a full session
    epoch: EpochView | None  # our open epoch as the peer's initiator
    last_session_kind: str | None
    last_session_at: str | None
    last_session_role: str | None
    last_session_status: str | None
    last_session_reason: str | None
    last_round_at: str | None
    last_round_cause: str | None
    last_round_outcome: str | None
    failures: int
    next_at: str | None
    next_cause: str | None

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "epoch": None if self.epoch is None else dict(self.epoch.__dict__)}


@dataclass(frozen=True)
class EpochView:
    """An open key epoch, as ``schedule status`` shows it (the first 8 hex digits of its id)."""

    id: str
    started_at: str
    ends_at: str
    rounds: int


@dataclass(frozen=True)
class ScheduleStatus:
    enabled: bool
    running: bool  # a serving node's scheduler is running now
    after_import: int
    interval: int
    peers: list[PeerSchedule]

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "peers": [p.as_json() for p in self.peers]}


def status(ops: Operations) -> ScheduleStatus:
    """Per configured peer: the last session and scheduled round, and the next round if one is planned."""
    config = ops.config()
    with reading(ops.home) as db:
        pid = store.marker(db, store.SCHEDULER_PID) or 0
        rows = store.round_rows(db)
        last = store.last_sessions(db)
        epochs = {peer.code: current_epoch(db, peer.code, "initiator") for peer in config.peers}
    running = pid > 0 and alive(pid)
    peers = []
    for peer in config.peers:
        row = rows.get(peer.code, store.RoundRow(peer.code))
        session = last.get(peer.code)
        planned = running and config.schedule.enabled
        epoch = epochs[peer.code]
        view = None if epoch is None else EpochView(epoch.terms.epoch_id.hex()[:8], epoch.started_at, epoch.ends_at,
                                                    epoch.rounds)  # fmt: skip
        continues = view is not None and peer.policy.epoch_days is not None and ops.now_iso() < view.ends_at
        peers.append(PeerSchedule(
            peer=peer.code, kind="delta" if continues else "full", epoch=view,
            last_session_kind=None if session is None else session.kind,
            last_session_at=None if session is None else session.finished_at,
            last_session_role=None if session is None else session.role,
            last_session_status=None if session is None else session.status,
            last_session_reason=None if session is None else session.reason,
            last_round_at=row.last_at, last_round_cause=row.last_cause, last_round_outcome=row.last_outcome,
            failures=row.failures,
            next_at=row.next_at if planned else None, next_cause=row.next_cause if planned else None,
        ))  # fmt: skip
    schedule = config.schedule
    return ScheduleStatus(schedule.enabled, running, schedule.after_import, schedule.interval, peers)
