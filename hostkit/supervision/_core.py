"""The supervision decision core: OTP's restart rules as a pure state machine.

No trio, no wasmtime, no clock: the driver feeds in what happened (an
:data:`Event`) and the time (``now``, in seconds, from any monotonic clock),
and gets back what to do (a list of :data:`Action`).
"""

# Theory of operation
# ===================
#
# A supervisor is a list of children in start order and a queue of *jobs*. A
# job is what OTP's supervisor does inside one synchronous step: stop some
# children one by one (reverse order), optionally wait (backoff), start some
# children one by one (in order), then maybe finish (Ready, remove a child, or
# Exit). Starting and stopping take time in hostkit, so the core emits one
# StartChild/StopChild and waits for the driver to report ChildStarted /
# ChildStartFailed / ChildStopped before issuing the next step. Never more than
# one start or stop is outstanding (except the dynamic supervisor's shutdown,
# which stops all children at once as OTP's simple_one_for_one does).
#
# While a job is running the core is *busy*. Anything else that happens then
# (a child exiting, AddChild, RemoveChild, TimerFired, StopRequested) goes to
# an inbox, exactly like messages queueing in an OTP supervisor's mailbox while
# it is inside start_link/terminate, and is handled, in arrival order and with
# its arrival time, once the job is done. The one exception mirrors OTP's
# monitor_child: when a job reaches "stop X" and X has already exited (its exit
# is still in the inbox), the exit is consumed and counts as the stop.
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
# and exits.

from __future__ import annotations

import enum
import itertools
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .._errors import SupervisorSpecError
from ..runtime._pid import SHUTDOWN, ExitReason
from ._spec import AutoShutdown, ChildSpec, Restart, Shutdown, Strategy, SupervisorFlags
from ._spec import check_child_specs as _check_child_specs

# ---------------------------------------------------------------- events (in)


@dataclass(frozen=True)
class ChildStarted:
    """The :class:`StartChild` you performed succeeded; ``pid`` is kept for introspection."""

    id: str
    pid: object | None = None


@dataclass(frozen=True)
class ChildStartFailed:
    """The :class:`StartChild` you performed failed (its init trapped, was refused...)."""

    id: str
    reason: ExitReason


@dataclass(frozen=True)
class ChildExited:
    """A running child ended on its own (or was killed by someone else)."""

    id: str
    reason: ExitReason


@dataclass(frozen=True)
class ChildStopped:
    """The :class:`StopChild` you performed is complete: the child is gone."""

    id: str


@dataclass(frozen=True)
class TimerFired:
    """The delay of a :class:`StartAfter` elapsed; echo its ``id`` and ``token``."""

    id: str
    token: int


@dataclass(frozen=True)
class AddChild:
    """Add a child at the end of the list and start it (OTP's ``start_child``)."""

    spec: ChildSpec


@dataclass(frozen=True)
class RemoveChild:
    """Stop a child if it runs and forget it (``terminate_child`` + ``delete_child``)."""

    id: str


@dataclass(frozen=True)
class StopRequested:
    """The supervisor is asked to shut down: stop children in reverse order, then exit."""


Event: TypeAlias = (
    ChildStarted
    | ChildStartFailed
    | ChildExited
    | ChildStopped
    | TimerFired
    | AddChild
    | RemoveChild
    | StopRequested
)

# -------------------------------------------------------------- actions (out)


@dataclass(frozen=True)
class StartChild:
    """Start the child described by ``spec``; report ChildStarted or ChildStartFailed."""

    id: str
    spec: ChildSpec


@dataclass(frozen=True)
class StopChild:
    """Stop the child: ask it to shut down, kill it after ``shutdown`` seconds
    (at once for BRUTAL_KILL, never for INFINITY); report ChildStopped."""

    id: str
    shutdown: float | Shutdown


@dataclass(frozen=True)
class StartAfter:
    """Backoff: after ``delay`` seconds, report ``TimerFired(id, token)``."""

    id: str
    delay: float
    token: int


#: Why a supervisor exits: asked to (StopRequested), restart intensity
#: exceeded, auto_shutdown, or a child failed to start during the initial start.
ExitCause: TypeAlias = Literal["stop_requested", "intensity", "auto_shutdown", "start_failed"]


@dataclass(frozen=True)
class Exit:
    """The supervisor is done: every child is stopped. Exit with ``reason``.

    If no :class:`Ready` came before it, the supervisor failed to start.
    """

    reason: ExitReason
    cause: ExitCause


@dataclass(frozen=True)
class Ready:
    """The initial children all started: the supervisor's own start succeeded."""


Action: TypeAlias = StartChild | StopChild | StartAfter | Exit | Ready

# -------------------------------------------------------------- introspection


class ChildStatus(enum.Enum):
    """Where a child is in its life, as the supervisor sees it."""

    NOT_STARTED = "not_started"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    #: Waiting to be started again (backoff, or queued behind a stop).
    RESTARTING = "restarting"
    #: Ended and not to be restarted (e.g. a transient child that exited normally).
    TERMINATED = "terminated"


@dataclass(frozen=True)
class ChildInfo:
    """One child in a :class:`SupervisorSnapshot`; ``restarts`` counts restart attempts."""

    id: str
    spec: ChildSpec
    status: ChildStatus
    pid: object | None
    restarts: int


@dataclass(frozen=True)
class SupervisorSnapshot:
    """A supervisor's children (in start order), its recent restart times and,
    once it has exited, why."""

    children: tuple[ChildInfo, ...]
    restart_times: tuple[float, ...]
    exit_reason: ExitReason | None


# ------------------------------------------------------------------- the core


@dataclass(eq=False)
class _Child:
    spec: ChildSpec
    status: ChildStatus = ChildStatus.NOT_STARTED
    pid: object | None = None
    started_at: float | None = None
    attempts: int = 0  # StartChild issued so far
    streak: int = 0  # consecutive restarts, for backoff
    pending_exit: ChildExited | None = None  # exited while busy; still in the inbox


_JobKind: TypeAlias = Literal["init", "add", "restart", "remove", "shutdown"]


@dataclass(eq=False)
class _Job:
    kind: _JobKind
    stops: list[str] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)
    trigger: str = ""
    delay: float = 0.0
    exit: Exit | None = None


class _CoreBase:
    _concurrent_shutdown = False
    _forget_ended = False  # dynamic supervisors drop children that end for good

    def __init__(self, flags: SupervisorFlags, rng: random.Random | None) -> None:
        if not isinstance(flags, SupervisorFlags):
            raise SupervisorSpecError(f"flags: expected SupervisorFlags, got {flags!r}")
        self.flags = flags
        self._rng = rng if rng is not None else random.Random()
        self._children: dict[str, _Child] = {}
        self._job: _Job | None = None
        self._outstanding: set[str] = set()
        self._inbox: deque[tuple[Event, float]] = deque()
        self._parked: dict[int, _Job] = {}
        self._tokens = itertools.count(1)
        self._restart_times: list[float] = []
        self._started = False
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
        self._job = _Job("init", starts=list(self._children))
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
                child.status, child.pid, child.pending_exit = ChildStatus.TERMINATED, None, event
                self._inbox.append((event, now))
            else:
                raise RuntimeError(f"{event!r} but the child is {child.status.value}")
        elif isinstance(event, AddChild):
            self._check_new(event.spec)
            self._children[event.spec.id] = _Child(event.spec)
            self._inbox.append((event, now))
        elif isinstance(event, RemoveChild):
            if event.id not in self._children:
                raise SupervisorSpecError(f"id: no child {event.id!r} in this supervisor")
            self._inbox.append((event, now))
        elif isinstance(event, TimerFired | StopRequested):
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
                batch = (
                    len(job.stops) if job.kind == "shutdown" and self._concurrent_shutdown else 1
                )
                for id in job.stops[:batch]:
                    self._stop(id, actions)
                del job.stops[:batch]
            elif job.delay > 0:
                token = next(self._tokens)
                self._parked[token] = job
                self._job = None
                actions.append(StartAfter(job.trigger, job.delay, token))
                return
            elif job.starts:
                self._start(job.starts.pop(0), actions)
            else:
                self._job = None
                if job.kind == "init":
                    actions.append(Ready())
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

    def _stopped(self, child: _Child) -> None:
        job = self._job
        child.pid = None
        restarting = job is not None and job.kind == "restart" and child.spec.id in job.starts
        if restarting:
            child.status = ChildStatus.RESTARTING
        elif (job is not None and job.kind == "remove") or self._forgets(child):
            del self._children[child.spec.id]
        else:
            child.status = ChildStatus.TERMINATED

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
        job = self._job
        assert job is not None
        if isinstance(event, ChildStopped):
            self._stopped(child)
        elif isinstance(event, ChildStarted):
            child.status, child.pid, child.started_at = ChildStatus.RUNNING, event.pid, now
        elif job.kind == "init":
            self._ended(child)
            detail = f"failed to start child {event.id!r}: {event.reason}"
            self._shutdown(Exit(ExitReason("error", detail), "start_failed"))
        elif job.kind == "add":
            del self._children[event.id]
        else:  # a restart failed: OTP's try_again_restart, counted as a restart
            child.status = ChildStatus.RESTARTING
            self._job = None
            self._restart(child, now, job.starts)

    # ----------------------------------------------------- OTP's decisions

    def _process(self, event: Event, at: float, actions: list[Action]) -> None:
        if isinstance(event, ChildExited):
            child = self._children.get(event.id)
            if child is not None and child.pending_exit is event:
                child.pending_exit = None
                self._exited(child, event.reason, at)
        elif isinstance(event, AddChild):
            child = self._children.get(event.spec.id)
            if child is not None and child.status is ChildStatus.NOT_STARTED:
                self._job = _Job("add", starts=[event.spec.id])
        elif isinstance(event, RemoveChild):
            child = self._children.get(event.id)
            if child is not None and child.status is ChildStatus.RUNNING:
                self._job = _Job("remove", stops=[event.id])
            elif child is not None:
                child.pending_exit = None
                del self._children[event.id]
                for token, parked in list(self._parked.items()):
                    if event.id in parked.starts:
                        parked.starts.remove(event.id)
                    if not parked.starts:
                        del self._parked[token]
        elif isinstance(event, TimerFired):
            job = self._parked.pop(event.token, None)
            if job is not None:
                job.delay = 0.0
                self._job = job
        elif isinstance(event, StopRequested):
            self._shutdown(Exit(SHUTDOWN, "stop_requested"))

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
            self._shutdown(Exit(ExitReason("error", detail), "intensity"))
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
        starts: list[str] = []
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
        ids = [i for i, c in self._children.items() if c.status is not ChildStatus.NOT_STARTED]
        strategy = self.flags.strategy
        if strategy is Strategy.ONE_FOR_ALL:
            return ids
        if strategy is Strategy.REST_FOR_ONE:
            return ids[ids.index(id) :]
        return [id]

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

    def _ended(self, child: _Child) -> None:
        if self._forgets(child):
            del self._children[child.spec.id]
        else:
            child.status, child.pid = ChildStatus.TERMINATED, None

    def _forgets(self, child: _Child) -> bool:
        return self._forget_ended or child.spec.restart is Restart.TEMPORARY

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
    forgotten; on shutdown all children are stopped at once.

    Args:
        flags: Must use ``Strategy.ONE_FOR_ONE`` (the default).
        rng: Source of backoff jitter.

    Raises:
        SupervisorSpecError: ``flags.strategy`` is not ``ONE_FOR_ONE``.
    """

    _concurrent_shutdown = True
    _forget_ended = True

    def __init__(self, flags: SupervisorFlags, *, rng: random.Random | None = None) -> None:
        if isinstance(flags, SupervisorFlags) and flags.strategy is not Strategy.ONE_FOR_ONE:
            raise SupervisorSpecError(
                f"strategy: a dynamic supervisor is one_for_one, got {flags.strategy.value!r}"
            )
        super().__init__(flags, rng)
