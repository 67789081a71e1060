"""The supervision decision core: OTP's restart rules as a pure state machine.

No trio, no wasmtime, no clock: the driver feeds in what happened (an
:data:`~._events.Event`) and the time (``now``, in seconds, from any monotonic
clock), and gets back what to do (a list of :data:`~._events.Action`).
"""

# Theory of operation
# ===================
#
# A supervisor is a list of children in start order and a queue of *jobs*. A
# job is what OTP's supervisor does inside one synchronous step: stop some
# children one by one (reverse order), optionally wait (backoff), start some
# children one by one (in order), then maybe finish (Ready, a Reply, remove a
# child, or Exit). Starting and stopping take time in hostkit, so the core
# emits one StartChild/StopChild and waits for the driver to report
# ChildStarted / ChildStartFailed / ChildStopped before issuing the next step.
# Never more than one start or stop is outstanding (except the dynamic
# supervisor's shutdown, which stops all children at once as OTP's
# simple_one_for_one does).
#
# While a job is running the core is *busy*. Anything else that happens then
# (a child exiting, admin requests, TimerFired, StopRequested) goes to an
# inbox, exactly like messages queueing in an OTP supervisor's mailbox while
# it is inside start_link/terminate, and is handled, in arrival order and with
# its arrival time, once the job is done. The one exception mirrors OTP's
# monitor_child: when a job reaches "stop X" and X has already exited (its exit
# is still in the inbox), the exit is consumed and counts as the stop.
#
# A restart whose start fails is tried again, as OTP's try_again_restart does:
# not at once but through the inbox (a private _TryAgain event queued behind
# whatever arrived meanwhile). So a child that can never start keeps the
# supervisor in a restart loop only as long as nobody asks for anything: a
# stop, terminate or admin request that arrived during an attempt is served
# before the next attempt (OTP-9549). A stop request, or a terminate of the
# child being restarted, also emits CancelStart, so a start that hangs is
# bounded by the child's shutdown timeout.
#
# A backoff wait does not keep the core busy: the job is *parked* under a timer
# token, StartAfter is emitted, and TimerFired(id, token) un-parks it. A later
# restart whose children overlap a parked job absorbs it (its token goes
# stale); stale timers are ignored.
#
# The restart decision itself is OTP's do_restart/add_restart: permanent
# always, transient after an abnormal exit, temporary never; each restart adds
# `now` to a list that keeps the restarts with now - t <= period, and if the
# list then holds more than `intensity` entries the supervisor stops everything
# and exits with `shutdown`, as OTP does (the detail says why).

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .._errors import SupervisorSpecError
from ..runtime._pid import SHUTDOWN, ExitReason
from ._events import (
    Action,
    AddChild,
    CancelStart,
    ChildCounts,
    ChildExited,
    ChildInfo,
    ChildStarted,
    ChildStartFailed,
    ChildStatus,
    ChildStopped,
    DeleteChild,
    Event,
    Exit,
    Outcome,
    Ready,
    RemoveChild,
    Reply,
    RestartChild,
    StartAfter,
    StartChild,
    StopChild,
    StopRequested,
    SupervisorSnapshot,
    TerminateChild,
    TimerFired,
)
from ._spec import AutoShutdown, ChildSpec, Restart, Strategy, SupervisorFlags, check_dynamic_flags
from ._spec import check_child_specs as _check_child_specs


@dataclass(frozen=True)
class _TryAgain:
    """OTP's try_again_restart: retry a failed restart once the inbox is served."""

    id: str
    leftovers: tuple[str, ...]


@dataclass(eq=False)
class _Child:
    spec: ChildSpec
    status: ChildStatus = ChildStatus.NOT_STARTED
    pid: object | None = None
    started_at: float | None = None
    attempts: int = 0  # StartChild issued so far
    streak: int = 0  # consecutive restarts, for backoff
    pending_exit: ChildExited | None = None  # exited while busy; still in the inbox


_JobKind: TypeAlias = Literal[
    "init", "abandoned", "add", "restart", "remove", "shutdown", "terminate", "restart_child"
]


@dataclass(eq=False)
class _Job:
    kind: _JobKind
    stops: list[str] = field(default_factory=list)  # in stop order
    starts: deque[str] = field(default_factory=deque)
    trigger: str = ""
    delay: float = 0.0
    exit: Exit | None = None
    ref: object = None  # the admin request this job answers
    reply: Reply | None = None  # sent when the job is done


class _CoreBase:
    _concurrent_shutdown = False
    _dynamic = False  # forgets children that end for good; keeps no specs to restart

    def __init__(self, flags: SupervisorFlags, rng: random.Random | None) -> None:
        if not isinstance(flags, SupervisorFlags):
            raise SupervisorSpecError(f"flags: expected SupervisorFlags, got {flags!r}")
        self.flags = flags
        self._rng = rng if rng is not None else random.Random()
        self._children: dict[str, _Child] = {}
        self._by_pid: dict[object, str] = {}
        self._job: _Job | None = None
        self._outstanding: set[str] = set()
        self._cancelling: set[str] = set()
        self._inbox: deque[tuple[Event | _TryAgain, float]] = deque()
        self._parked: dict[int, _Job] = {}
        self._tokens = itertools.count(1)
        self._restart_times: list[float] = []
        self._started = False
        self._stop_queued = False
        self._exit: Exit | None = None

    # ------------------------------------------------------------ public API

    def start(self) -> list[Action]:
        """Begin: return the first actions (start the first child, or Ready).

        Raises:
            RuntimeError: Called twice.
        """
        if self._started:
            raise RuntimeError("start() was already called")
        self._started = True
        actions: list[Action] = []
        self._job = _Job("init", starts=deque(self._children))
        self._run(actions)
        return actions

    def handle(self, event: Event, now: float) -> list[Action]:
        """Feed one event that happened at time ``now``; return what to do next.

        Raises:
            SupervisorSpecError: AddChild with an invalid or duplicate spec, or
                RemoveChild of an unknown id. Nothing changed.
            RuntimeError: The event breaks the driver contract (e.g. ChildStarted
                for a child that is not starting, or any event before
                :meth:`start` or, except timers and StopRequested, after Exit).
        """
        if not self._started:
            raise RuntimeError("call start() before handle()")
        if self._exit is not None:
            if isinstance(event, TimerFired | StopRequested):
                return []
            raise RuntimeError(f"{event!r} after the supervisor exited")
        actions: list[Action] = []
        if isinstance(event, ChildStarted | ChildStartFailed | ChildStopped):
            self._complete(event, now, actions)
        elif isinstance(event, ChildExited):
            child = self._known(event.id, event)
            if child.status is ChildStatus.STOPPING:  # raced with our stop: same thing
                self._complete(ChildStopped(event.id), now, actions)
            elif child.status is ChildStatus.RUNNING:
                child.status, child.pending_exit = ChildStatus.TERMINATED, event
                self._set_pid(child, None)
                self._inbox.append((event, now))
            else:
                raise RuntimeError(f"{event!r} but the child is {child.status.value}")
        elif isinstance(event, AddChild):
            self._check_new(event.spec)
            self._children[event.spec.id] = _Child(event.spec)
            self._inbox.append((event, now))
        elif isinstance(event, RemoveChild | TerminateChild):
            if isinstance(event, RemoveChild) and event.id not in self._children:
                raise SupervisorSpecError(f"id: no child {event.id!r} in this supervisor")
            job = self._job
            if job is not None and job.kind == "restart":
                self._cancel_start(event.id, actions)
            self._inbox.append((event, now))
        elif isinstance(event, StopRequested):
            self._stop_queued = True
            for id in sorted(self._outstanding):
                self._cancel_start(id, actions)
            self._inbox.append((event, now))
        elif isinstance(event, TimerFired | RestartChild | DeleteChild):
            self._inbox.append((event, now))
        else:
            raise TypeError(f"not a supervisor event: {event!r}")
        self._run(actions)
        return actions

    def snapshot(self) -> SupervisorSnapshot:
        """The children in start order, the restart window and the exit reason."""
        return SupervisorSnapshot(
            children=tuple(
                ChildInfo(c.spec.id, c.spec, c.status, c.pid, max(0, c.attempts - 1))
                for c in self._children.values()
            ),
            restart_times=tuple(self._restart_times),
            exit_reason=self._exit.reason if self._exit is not None else None,
        )

    def count_children(self) -> ChildCounts:
        """OTP's ``count_children``: specs, active processes, supervisors, workers."""
        active = supervisors = 0
        for c in self._children.values():
            if c.status in (ChildStatus.RUNNING, ChildStatus.STOPPING):
                active += 1
            if c.spec.kind == "supervisor":
                supervisors += 1
        n = len(self._children)
        return ChildCounts(specs=n, active=active, supervisors=supervisors, workers=n - supervisors)

    def get_childspec(self, id: str) -> ChildSpec | None:
        """The spec of child ``id`` (OTP's ``get_childspec``), or None if there is none."""
        child = self._children.get(id)
        return child.spec if child is not None else None

    def status_of(self, id: str) -> ChildStatus | None:
        """Where child ``id`` is in its life, or None if there is no such child."""
        child = self._children.get(id)
        return child.status if child is not None else None

    def id_of(self, pid: object) -> str | None:
        """The id of the child whose current process is ``pid``, or None."""
        return self._by_pid.get(pid)

    # ----------------------------------------------------- the job machinery

    def _run(self, actions: list[Action]) -> None:
        while True:
            if self._job is not None:
                self._step(self._job, actions)
                if self._job is not None:
                    return  # waiting for the driver
            if self._exit is not None or not self._inbox:
                return
            event, at = self._inbox.popleft()
            self._process(event, at, actions)

    def _step(self, job: _Job, actions: list[Action]) -> None:
        while not self._outstanding:
            if job.stops:
                concurrent = job.kind == "shutdown" and self._concurrent_shutdown
                batch = len(job.stops) if concurrent else 1
                for id in job.stops[:batch]:
                    self._stop(id, actions)
                del job.stops[:batch]
            elif job.delay > 0:
                token = next(self._tokens)
                self._parked[token] = job
                self._job = None
                actions.append(StartAfter(job.trigger, job.delay, token))
                return
            elif job.starts and job.kind == "init" and self._stop_queued:
                job.starts.clear()  # asked to stop while starting: start no more
                job.kind = "abandoned"
            elif job.starts:
                self._start(job.starts.popleft(), actions)
            else:
                self._job = None
                if job.kind == "init":
                    actions.append(Ready())
                if job.reply is not None:
                    actions.append(job.reply)
                if job.exit is not None:
                    self._exit = job.exit
                    self._inbox.clear()
                    actions.append(job.exit)
                return

    def _start(self, id: str, actions: list[Action]) -> None:
        child = self._children.get(id)
        if child is None or child.status in (ChildStatus.RUNNING, ChildStatus.STARTING):
            return  # removed meanwhile
        child.status = ChildStatus.STARTING
        child.attempts += 1
        self._outstanding.add(id)
        actions.append(StartChild(id, child.spec))

    def _stop(self, id: str, actions: list[Action]) -> None:
        child = self._children.get(id)
        if child is None:
            return
        if child.status is ChildStatus.RUNNING:
            child.status = ChildStatus.STOPPING
            self._outstanding.add(id)
            actions.append(StopChild(id, child.spec.shutdown))
        elif child.pending_exit is not None:  # died already: its exit is the stop
            child.pending_exit = None
            self._stopped(child)

    def _cancel_start(self, id: str, actions: list[Action]) -> None:
        child = self._children.get(id)
        if (
            child is not None
            and child.status is ChildStatus.STARTING
            and id in self._outstanding
            and id not in self._cancelling
        ):
            self._cancelling.add(id)
            actions.append(CancelStart(id, child.spec.shutdown))

    def _stopped(self, child: _Child) -> None:
        job = self._job
        self._set_pid(child, None)
        restarting = job is not None and job.kind == "restart" and child.spec.id in job.starts
        if restarting:
            child.status = ChildStatus.RESTARTING
        elif job is not None and job.kind == "remove":
            self._drop(child)
        else:
            self._ended(child)

    def _complete(
        self,
        event: ChildStarted | ChildStartFailed | ChildStopped,
        now: float,
        actions: list[Action],
    ) -> None:
        child = self._known(event.id, event)
        want = ChildStatus.STOPPING if isinstance(event, ChildStopped) else ChildStatus.STARTING
        if event.id not in self._outstanding or child.status is not want:
            raise RuntimeError(f"{event!r} but the child is {child.status.value}")
        self._outstanding.discard(event.id)
        self._cancelling.discard(event.id)
        job = self._job
        assert job is not None
        if isinstance(event, ChildStopped):
            self._stopped(child)
        elif isinstance(event, ChildStarted):
            child.status, child.started_at = ChildStatus.RUNNING, now
            self._set_pid(child, event.pid)
            if job.kind == "restart_child":
                job.reply = Reply(job.ref, "ok", pid=event.pid)
        elif job.kind == "init":
            self._ended(child)
            if self._stop_queued:
                self._shutdown(Exit(SHUTDOWN, "stop_requested"))  # we cancelled it
            else:
                detail = f"failed to start child {event.id!r}: {event.reason}"
                self._shutdown(Exit(ExitReason("error", detail), "start_failed"))
        elif job.kind == "add":
            self._drop(child)
        elif job.kind == "restart_child":  # OTP: {error, Reason}; not a restart
            child.status = ChildStatus.TERMINATED
            job.reply = Reply(job.ref, "failed", reason=event.reason)
        else:  # a restart failed: OTP's try_again_restart, through the inbox
            child.status = ChildStatus.RESTARTING
            self._job = None
            self._inbox.append((_TryAgain(event.id, tuple(job.starts)), now))

    # ----------------------------------------------------- OTP's decisions

    def _process(self, event: Event | _TryAgain, at: float, actions: list[Action]) -> None:
        if isinstance(event, ChildExited):
            child = self._children.get(event.id)
            if child is not None and child.pending_exit is event:
                child.pending_exit = None
                self._exited(child, event.reason, at)
        elif isinstance(event, _TryAgain):
            self._try_again(event, at)
        elif isinstance(event, AddChild):
            child = self._children.get(event.spec.id)
            if child is not None and child.status is ChildStatus.NOT_STARTED:
                self._job = _Job("add", starts=deque([event.spec.id]))
        elif isinstance(event, RemoveChild):
            child = self._children.get(event.id)
            if child is not None and child.status is ChildStatus.RUNNING:
                self._job = _Job("remove", stops=[event.id])
            elif child is not None:
                child.pending_exit = None
                self._unpark(event.id)
                self._drop(child)
        elif isinstance(event, TerminateChild | RestartChild | DeleteChild):
            self._admin(event, actions)
        elif isinstance(event, TimerFired):
            job = self._parked.pop(event.token, None)
            if job is not None:
                job.delay = 0.0
                self._job = job
        elif isinstance(event, StopRequested):
            self._shutdown(Exit(SHUTDOWN, "stop_requested"))

    def _admin(
        self, event: TerminateChild | RestartChild | DeleteChild, actions: list[Action]
    ) -> None:
        child = self._children.get(event.id)
        # An exit still in the inbox came after this request: in mailbox order
        # the child is still running (a stop then consumes that exit).
        running = child is not None and (
            child.status is ChildStatus.RUNNING or child.pending_exit is not None
        )
        outcome: Outcome = "ok"
        if isinstance(event, RestartChild | DeleteChild) and self._dynamic:
            outcome = "dynamic"
        elif child is None:
            outcome = "not_found"
        elif isinstance(event, TerminateChild):
            if running:
                self._job = _Job("terminate", stops=[event.id], reply=Reply(event.ref, "ok"))
                return
            if child.status is ChildStatus.RESTARTING:  # drop the restart
                self._unpark(event.id)
                self._ended(child)
        elif running:
            outcome = "running"
        elif child.status is not ChildStatus.TERMINATED:
            outcome = "restarting"
        elif isinstance(event, RestartChild):
            self._job = _Job("restart_child", starts=deque([event.id]), ref=event.ref)
            return
        else:
            self._drop(child)
        actions.append(Reply(event.ref, outcome))

    def _try_again(self, event: _TryAgain, at: float) -> None:
        child = self._children.get(event.id)
        rest = [
            id
            for id in event.leftovers
            if id != event.id and self.status_of(id) is ChildStatus.RESTARTING
        ]
        if child is not None and child.status is ChildStatus.RESTARTING:
            if not self._scheduled(event.id):
                self._restart(child, at, rest)
            return
        # The restart was dropped meanwhile (terminate_child): as in OTP, the
        # children after it in its group stay terminated, specs kept.
        for id in rest:
            if not self._scheduled(id):
                self._ended(self._children[id])

    def _exited(self, child: _Child, reason: ExitReason, at: float) -> None:
        backoff = self.flags.backoff
        started = child.started_at
        if backoff is not None and started is not None and at - started >= backoff.reset_after:
            child.streak = 0
        restart = child.spec.restart
        if restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and not reason.is_normal):
            child.status = ChildStatus.RESTARTING
            self._restart(child, at, [])
            return
        self._ended(child)
        auto = self.flags.auto_shutdown
        if auto is AutoShutdown.NEVER or not child.spec.significant:
            return
        if auto is AutoShutdown.ANY_SIGNIFICANT or not any(
            c.spec.significant and self._alive(c) for c in self._children.values()
        ):
            self._shutdown(Exit(SHUTDOWN, "auto_shutdown"))

    def _restart(self, child: _Child, now: float, leftovers: Sequence[str]) -> None:
        period = self.flags.period
        self._restart_times = [t for t in self._restart_times if now - t <= period]
        self._restart_times.append(now)
        if len(self._restart_times) > self.flags.intensity:
            self._ended(child)
            n = len(self._restart_times)
            detail = f"restart intensity exceeded: {n} restarts in {period:g} s"
            self._shutdown(Exit(ExitReason("shutdown", detail), "intensity"))
            return
        delay = 0.0
        if self.flags.backoff is not None:
            delay = self.flags.backoff.delay(child.streak, self._rng)
            child.streak += 1
        members = set(self._group(child.spec.id)) | set(leftovers)
        for token, parked in list(self._parked.items()):
            if members.intersection(parked.starts):
                del self._parked[token]
                members.update(parked.starts)
        order = [id for id in self._children if id in members]
        stops: list[str] = []
        starts: deque[str] = deque()
        for id in order:
            other = self._children[id]
            if id != child.spec.id and (
                other.status is ChildStatus.RUNNING or other.pending_exit is not None
            ):
                stops.append(id)
            if id == child.spec.id or other.spec.restart is not Restart.TEMPORARY:
                starts.append(id)
                if id not in stops:
                    other.status = ChildStatus.RESTARTING
        stops.reverse()
        self._job = _Job("restart", stops, starts, child.spec.id, delay)

    def _group(self, id: str) -> list[str]:
        strategy = self.flags.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            return [id]
        ids = [i for i, c in self._children.items() if c.status is not ChildStatus.NOT_STARTED]
        if strategy is Strategy.ONE_FOR_ALL:
            return ids
        return ids[ids.index(id) :]

    def _shutdown(self, exit: Exit) -> None:
        self._parked.clear()
        for child in list(self._children.values()):
            if child.status is ChildStatus.RESTARTING:
                self._ended(child)
        stops = [
            id
            for id, c in reversed(self._children.items())
            if c.status is ChildStatus.RUNNING or c.pending_exit is not None
        ]
        self._job = _Job("shutdown", stops=stops, exit=exit)

    # -------------------------------------------------------------- helpers

    def _set_pid(self, child: _Child, pid: object | None) -> None:
        if isinstance(child.pid, Hashable):  # a driver may use any object as a pid
            self._by_pid.pop(child.pid, None)
        child.pid = pid
        if pid is not None and isinstance(pid, Hashable):
            self._by_pid[pid] = child.spec.id

    def _drop(self, child: _Child) -> None:
        self._set_pid(child, None)
        del self._children[child.spec.id]

    def _ended(self, child: _Child) -> None:
        if self._dynamic or child.spec.restart is Restart.TEMPORARY:
            self._drop(child)
        else:
            child.status = ChildStatus.TERMINATED
            self._set_pid(child, None)

    def _unpark(self, id: str) -> None:
        for token, parked in list(self._parked.items()):
            if id in parked.starts:
                parked.starts.remove(id)
            if not parked.starts:
                del self._parked[token]

    def _scheduled(self, id: str) -> bool:
        return any(id in parked.starts for parked in self._parked.values())

    @staticmethod
    def _alive(child: _Child) -> bool:
        return child.pending_exit is not None or child.status not in (
            ChildStatus.TERMINATED,
            ChildStatus.NOT_STARTED,
        )

    def _known(self, id: str, event: Event) -> _Child:
        child = self._children.get(id)
        if child is None:
            raise RuntimeError(f"{event!r} names no child of this supervisor")
        return child

    def _check_new(self, spec: ChildSpec) -> None:
        _check_child_specs([spec], self.flags.auto_shutdown)
        if spec.id in self._children:
            raise SupervisorSpecError(f"id: duplicate child id {spec.id!r}")


class SupervisorCore(_CoreBase):
    """A static supervisor: OTP's ``supervisor`` with a fixed (or growing) child list.

    Args:
        flags: Strategy, intensity/period, auto_shutdown and backoff.
        children: The child specs, in start order.
        rng: Source of backoff jitter (inject a seeded one for reproducibility).

    Raises:
        SupervisorSpecError: The children are invalid together (duplicate
            ids, significant children with ``auto_shutdown`` ``NEVER``).
    """

    def __init__(
        self,
        flags: SupervisorFlags,
        children: Sequence[ChildSpec] = (),
        *,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(flags, rng)
        for spec in _check_child_specs(children, flags.auto_shutdown):
            self._children[spec.id] = _Child(spec)


class DynamicSupervisorCore(_CoreBase):
    """A dynamic supervisor (OTP's ``simple_one_for_one``, Elixir's DynamicSupervisor).

    It starts empty; children come with :class:`AddChild`. Restarts are one for
    one, with the same intensity rules; children that end for good are
    forgotten (so RestartChild and DeleteChild answer ``"dynamic"``); on
    shutdown all children are stopped at once.

    Args:
        flags: Must use ``Strategy.ONE_FOR_ONE`` (the default) and
            ``AutoShutdown.NEVER``.
        rng: Source of backoff jitter.

    Raises:
        SupervisorSpecError: ``flags.strategy`` is not ``ONE_FOR_ONE``, or
            ``flags.auto_shutdown`` is not ``NEVER`` (a bad combination).
    """

    _concurrent_shutdown = True
    _dynamic = True

    def __init__(self, flags: SupervisorFlags, *, rng: random.Random | None = None) -> None:
        if isinstance(flags, SupervisorFlags):
            check_dynamic_flags(flags)
        super().__init__(flags, rng)
