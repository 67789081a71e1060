"""The Trio driver: runs a supervisor by carrying out its decision core's actions.

:mod:`._entry` (``open_supervisor`` and friends) starts one; the
:class:`Supervisor` handle stops it, adds and removes children and shows the
tree. See ``docs/supervision.md`` ("Running supervisors").
"""

# Theory of operation
# ===================
#
# The core is synchronous and Trio runs one task at a time, so there is no
# event queue: whoever learns of an event (a child's watcher, a backoff timer,
# a caller of stop() or start_child()) feeds it to the core at once (`_feed`),
# with trio.current_time() as `now`, and performs the returned actions before
# returning. Performing an action never blocks and never feeds an event back
# to this core: it starts a task in the supervisor's nursery, flips a flag or
# signals a child (which may feed a nested supervisor's own core). So the core
# is never re-entered and the actions are carried out in order.
#
# Each StartChild gets one task, the incarnation's *watcher*. It starts the
# child, reports ChildStarted, waits for the child's end and then reports
# exactly one of ChildStartFailed / ChildExited / ChildStopped, picking
# ChildStopped if a stop was asked for by then (the contract in the docs).
# For an actor it waits for a host monitor's DOWN; a task child runs inside
# its watcher, in its own cancel scope; so does a nested supervisor. A
# StopChild signals at once (host.exit shutdown, or cancel the scope, or ask
# the nested supervisor to stop) and arms a deadline; one watchdog task per
# supervisor kills whatever overran its `shutdown`. Neither reports anything:
# the watcher does -- except when the child is gone by the time the signal
# returns (an idle actor that does not trap exits ends inside host.exit):
# then the stop is reported at once, after the actions in hand are performed
# (`_gone`, drained by the outermost `_feed`), and the watcher, when it wakes,
# finds the incarnation ended and reports nothing. So a supervisor stops a
# run of idle actors in one pass on the Trio thread, not one scheduling round
# per child. (One timer task per stop made a stop of thousands of children
# pay a task spawn each; see benchmarks/bench_supervision.py.)
# A CancelStart gets a task that waits `shutdown` s for the start, then
# cancels it.
#
# Cancellation from outside (a scope around the supervisor) is a brutal stop:
# each watcher kills its actor in a `finally`, tasks are cancelled, nested
# supervisors go the same way, and nothing more is fed to the core.

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import final

import trio

from .._errors import (
    AuditError,
    ChildError,
    HostkitError,
    NoProc,
    RestartIntensityExceeded,
    SpawnError,
)
from ..runtime._host import Host
from ..runtime._pid import KILLED, NORMAL, SHUTDOWN, ExitReason, Pid
from ._admin import ChildAdmin, PendingReply
from ._core import DynamicSupervisorCore, SupervisorCore
from ._events import (
    Action,
    AddChild,
    CancelStart,
    ChildExited,
    ChildStarted,
    ChildStartFailed,
    ChildStatus,
    ChildStopped,
    Event,
    Exit,
    Ready,
    Reply,
    StartAfter,
    StartChild,
    StopChild,
    StopRequested,
    SupervisorSnapshot,
    TimerFired,
)
from ._spec import ChildSpec
from ._starts import ActorStart, SupervisorStart, TaskStart, check_start, kind_of
from ._stopping import ChildStopper, Incarnation
from ._tree import ChildNode, SupervisorState, SupervisorTree

log = logging.getLogger("hostkit.supervision")
_START_CANCELLED = ExitReason("killed", "start abandoned: the supervisor was stopping it")
_numbers = itertools.count(1)


def next_name() -> str:
    """A name for a supervisor that was not given one."""
    return f"supervisor-{next(_numbers)}"


@dataclass(eq=False)
class _PendingStart:
    """A start_child() caller waiting for the outcome."""

    done: trio.Event = field(default_factory=trio.Event)
    value: Pid | Supervisor | None = None
    failure: str | None = None

    def resolve(self, value: Pid | Supervisor | None, failure: str | None = None) -> None:
        if not self.done.is_set():
            self.value, self.failure = value, failure
            self.done.set()


class _TaskStatus:
    """The ``task_status`` given to a ``TaskStart(..., wait_started=True)`` child."""

    def __init__(self, sup: Supervisor, inc: Incarnation) -> None:
        self._sup, self._inc = sup, inc

    def started(self, value: object = None) -> None:
        if self._inc.started:
            raise RuntimeError("called 'started' twice on the same task status")
        self._sup._started(self._inc, None)


@final
class Supervisor(ChildAdmin, ChildStopper):
    """A running supervisor.

    Get one from :func:`open_supervisor`, :func:`open_dynamic_supervisor`,
    :func:`run_supervisor` or :meth:`child_supervisor`; do not construct it.
    All methods must be called from the Trio thread that runs it.
    """

    def __init__(
        self,
        host: Host | None,
        core: SupervisorCore | DynamicSupervisorCore,
        name: str,
        rng: random.Random,
    ) -> None:
        self.name = name
        self._host = host
        self._core = core
        self._rng = rng
        self._dynamic = isinstance(core, DynamicSupervisorCore)
        self._state: SupervisorState = "starting"
        self._nursery: trio.Nursery | None = None
        self._incs: dict[str, Incarnation] = {}
        self._last_exit: dict[str, ExitReason] = {}
        self._last_failure: str | None = None  # for the give-up message
        self._pending: dict[str, _PendingStart] = {}
        self._replies: dict[int, PendingReply] = {}
        self._refs = itertools.count(1)
        self._prune_at = 64  # _last_exit size that triggers forgetting forgotten children
        # Stops in progress by deadline, and the watchdog's scope (see _arm).
        self._deadlines: list[tuple[float, int, Incarnation, float]] = []
        self._seq = itertools.count()
        self._watchdog: trio.CancelScope | None = None
        self._exit: Exit | None = None
        self._killed = False
        self._ready = False
        self._stop_sent = False
        self._closing = False  # the nursery takes no new tasks
        self._gone: deque[Incarnation] = deque()  # stopped in their StopChild, unreported
        self._draining = False  # an outer _feed reports what is in _gone
        self._settled = trio.Event()  # Ready, or exited without it
        self._done = trio.Event()

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} {self._state}>"

    # ------------------------------------------------------------ public API

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why the supervisor exited (``killed`` if cancelled from outside), or None."""
        if self._exit is not None:
            return self._exit.reason
        return KILLED if self._killed else None

    def which_children(self) -> tuple[ChildNode, ...]:
        """The children in start order, one level deep (OTP's ``which_children``)."""
        return self._nodes(self._core.snapshot(), deep=False)

    def tree(self) -> SupervisorTree:
        """This supervisor and, recursively, its nested supervisors, as data."""
        snap = self._core.snapshot()
        flags = self._core.flags
        now = trio.current_time()
        return SupervisorTree(
            name=self.name,
            dynamic=self._dynamic,
            strategy=flags.strategy,
            intensity=flags.intensity,
            period=flags.period,
            state=self._state,
            recent_restarts=sum(1 for t in snap.restart_times if now - t <= flags.period),
            exit_reason=self.exit_reason,
            children=self._nodes(snap, deep=True),
        )

    def _nodes(self, snap: SupervisorSnapshot, *, deep: bool) -> tuple[ChildNode, ...]:
        nodes = []
        for info in snap.children:
            start = info.spec.start
            sub = info.pid if isinstance(info.pid, Supervisor) else None
            nodes.append(
                ChildNode(
                    id=info.id,
                    kind=kind_of(start),
                    status=info.status,
                    restart=info.spec.restart,
                    restarts=info.restarts,
                    pid=info.pid if isinstance(info.pid, Pid) else None,
                    name=start.name if isinstance(start, ActorStart) else None,
                    last_exit=self._last_exit.get(info.id),
                    supervisor=sub.tree() if deep and sub is not None else None,
                )
            )
        return tuple(nodes)

    def child_supervisor(self, id: str) -> Supervisor:
        """The running nested supervisor that is child ``id``.

        Raises:
            NoProc: No such child, it is not a supervisor, or it is not running.
        """
        for info in self._core.snapshot().children:
            if info.id == id and isinstance(info.pid, Supervisor):
                return info.pid
        raise NoProc(f"supervisor {self.name!r} has no running child supervisor {id!r}")

    async def start_child(self, spec: ChildSpec) -> Pid | Supervisor | None:
        """Add a child at the end and start it (OTP's ``start_child``).

        Returns:
            Once it started: an actor's pid, a nested supervisor's handle, or
            None for a task.

        Raises:
            SupervisorSpecError: The spec is invalid; nothing changed.
            ChildError: Its id is taken: ``reason`` ``"already_started"`` (that
                child runs) or ``"already_present"`` (its spec is kept; use
                :meth:`restart_child`, or :meth:`delete_child` first).
            SpawnError: The child failed to start; it is not kept.
            NoProc: The supervisor is not running.
        """
        self._check_running("start a child")
        check_start(spec, self._host, deep=True)
        status = self._core.status_of(spec.id)
        if status is not None:
            reason = (
                "already_started"
                if status in (ChildStatus.RUNNING, ChildStatus.STOPPING)
                else "already_present"
            )
            raise ChildError(
                f"supervisor {self.name!r}: cannot start child {spec.id!r}: {reason}",
                reason=reason,
                child=spec.id,
            )
        self._feed(AddChild(spec))  # raises SupervisorSpecError, changing nothing
        self._last_exit.pop(spec.id, None)
        pending = self._pending[spec.id] = _PendingStart()
        try:
            await pending.done.wait()
        finally:
            if self._pending.get(spec.id) is pending:
                del self._pending[spec.id]
        if pending.failure is not None:
            raise SpawnError(
                f"supervisor {self.name!r}: child {spec.id!r} failed to start: {pending.failure}"
            )
        return pending.value

    async def stop(self) -> None:
        """Stop the children in reverse start order, each within its
        ``shutdown``, and exit. Returns once it has; safe to call again."""
        self._request_stop()
        await self._done.wait()

    async def wait(self) -> ExitReason:
        """Wait until the supervisor exits (stopped, gave up, auto_shutdown) and say why."""
        await self._done.wait()
        reason = self.exit_reason
        assert reason is not None
        return reason

    # -------------------------------------------------------------- running

    async def _run(self, on_ready: Callable[[], None]) -> Exit:
        """Run until the core exits; call ``on_ready`` (from this task) after Ready."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    self._perform(self._core.start())
                    if self._stop_sent:  # stop() came before the nursery existed
                        self._feed(StopRequested())
                    await self._settled.wait()
                    if self._ready:
                        on_ready()
                    await self._done.wait()
                    nursery.cancel_scope.cancel()  # backoff timers that never fired
                finally:
                    # Exited, or cancelled from outside: either way nothing new
                    # may start in the nursery, which can close from now on.
                    self._closing = True
        finally:
            if self._exit is None:  # cancelled from outside
                self._killed, self._state = True, "exited"
                self._resolve_pending("the supervisor was cancelled")
                self._settled.set()
                self._done.set()
        assert self._exit is not None
        return self._exit

    async def _serve(
        self,
        on_failure: trio.CancelScope | None,
        task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        exit = await self._run(lambda: task_status.started(self))
        if not self._ready:
            raise SpawnError(f"supervisor {self.name!r} failed to start: {exit.reason.detail}")
        if exit.cause == "intensity":
            if on_failure is None:
                self._raise_if_gave_up()
            else:
                on_failure.cancel()

    def _raise_if_gave_up(self) -> None:
        if self._exit is None or self._exit.cause != "intensity":
            return
        message = f"supervisor {self.name!r} gave up: {self._exit.reason.detail}"
        if self._last_failure is not None:
            message += f"; the last failure: {self._last_failure}"
        raise RestartIntensityExceeded(message)

    def _check_running(self, what: str) -> None:
        if self._closing or self._nursery is None:
            raise NoProc(f"cannot {what}: supervisor {self.name!r} is not running")

    def _request_stop(self) -> None:
        if self._done.is_set() or self._stop_sent:
            return
        self._stop_sent = True
        self._state = "stopping"
        if self._nursery is not None:
            self._feed(StopRequested())

    # ------------------------------------------------- the core and actions

    def _feed(self, event: Event) -> None:
        if self._closing:
            return  # exited (the core ignores anything more) or being cancelled
        actions = self._core.handle(event, trio.current_time())
        if self._pending and isinstance(event, ChildStarted | ChildStartFailed):
            pending = self._pending.get(event.id)
            if pending is not None and isinstance(event, ChildStarted):
                assert event.pid is None or isinstance(event.pid, Pid | Supervisor)
                pending.resolve(event.pid)
            elif pending is not None and isinstance(event, ChildStartFailed):
                pending.resolve(None, str(event.reason))
        self._perform(actions)
        if self._pending and not self._done.is_set():
            for id, pending in self._pending.items():
                if self._core.status_of(id) is None:
                    pending.resolve(None, "it was removed before it started")
        if self._gone and not self._draining:
            # Children that stopped inside their StopChild: report them now,
            # one by one, each after the actions of the last are performed.
            self._draining = True
            try:
                while self._gone:
                    inc = self._gone.popleft()
                    assert inc.monitor is not None and inc.monitor.down is not None
                    self._settle(inc, inc.monitor.down)
            finally:
                self._draining = False

    def _audit_restart(self, child_id: str, spec: ChildSpec) -> None:
        """One ``restart`` audit record per restart (the gate's log, if any)."""
        if self._host is None:
            return
        start = spec.start
        plugin = None
        if isinstance(start, ActorStart):
            comp = start.component
            plugin = comp if isinstance(comp, str) else comp.name
        try:
            self._host.audit(
                "restart",
                plugin=plugin,
                supervisor=self.name,
                child=child_id,
                detail=str(self._last_exit[child_id]),
            )
        except AuditError:
            # The gate already denies every guest call on a broken log; the
            # supervisor keeps its children running and says so loudly.
            log.exception("supervisor %s: could not audit the restart of %r", self.name, child_id)

    def _perform(self, actions: Iterable[Action]) -> None:
        nursery = self._nursery
        assert nursery is not None
        for action in actions:
            if isinstance(action, StartChild):
                inc = self._incs[action.id] = Incarnation(action.spec)
                if action.id in self._last_exit:
                    log.info("supervisor %s: restarting child %r", self.name, action.id)
                    self._audit_restart(action.id, action.spec)
                nursery.start_soon(self._watch, inc, name=f"{self.name}/{action.id}")
            elif isinstance(action, StopChild):
                stopping = self._incs.get(action.id)
                if stopping is None:  # its watcher is being cancelled from outside
                    continue
                stopping.stopping = True
                if self._stop_child(stopping, action.shutdown):
                    self._gone.append(stopping)
            elif isinstance(action, StartAfter):
                log.info(
                    "supervisor %s: restarting child %r in %.3g s",
                    self.name,
                    action.id,
                    action.delay,
                )
                nursery.start_soon(self._timer, action)
            elif isinstance(action, Reply):
                assert isinstance(action.ref, int)
                waiter = self._replies.get(action.ref)
                if waiter is not None:
                    waiter.resolve(action)
            elif isinstance(action, CancelStart):
                starting = self._incs.get(action.id)
                if starting is not None and not starting.settled.is_set():
                    nursery.start_soon(self._cancel_start, starting, action.shutdown)
            elif isinstance(action, Ready):
                self._ready = True
                if self._state == "starting":
                    self._state = "running"
                self._settled.set()
            else:
                self._finish(action)

    def _finish(self, exit: Exit) -> None:
        self._exit, self._state = exit, "exited"
        if exit.cause in ("intensity", "start_failed"):
            log.error("supervisor %s exited: %s", self.name, exit.reason)
        else:
            log.info("supervisor %s exited (%s)", self.name, exit.cause.replace("_", " "))
        self._resolve_pending(f"supervisor {self.name!r} exited")
        self._settled.set()
        self._done.set()

    def _resolve_pending(self, why: str) -> None:
        for pending in self._pending.values():
            pending.resolve(None, why)
        for waiter in self._replies.values():
            waiter.resolve(None)

    async def _timer(self, action: StartAfter) -> None:
        await trio.sleep(action.delay)
        self._feed(TimerFired(action.id, action.token))

    # ---------------------------------------------------- one incarnation

    async def _watch(self, inc: Incarnation) -> None:
        start = inc.spec.start
        if isinstance(start, ActorStart):
            reason = await self._run_actor(inc, start)
        elif isinstance(start, SupervisorStart):
            reason = await self._run_nested(inc, start)
        else:
            assert isinstance(start, TaskStart)
            reason = await self._run_task(inc, start)
        self._end(inc, reason)

    def _started(self, inc: Incarnation, value: Pid | Supervisor | None) -> None:
        inc.started = True
        inc.settled.set()
        self._feed(ChildStarted(inc.id, value))

    def _end(self, inc: Incarnation, reason: ExitReason) -> None:
        if inc.ended.is_set():
            return  # reported when its stop returned (see _gone)
        if trio.current_effective_deadline() == -math.inf:
            inc.ended.set()
            inc.settled.set()
            if self._incs.get(inc.id) is inc:
                del self._incs[inc.id]
            return  # cancelled from outside: the supervisor is going away
        self._settle(inc, reason)

    def _settle(self, inc: Incarnation, reason: ExitReason) -> None:
        """The one report of an incarnation's end to the core."""
        inc.ended.set()
        inc.settled.set()
        if self._incs.get(inc.id) is inc:
            del self._incs[inc.id]
        self._last_exit[inc.id] = reason
        where = f"supervisor {self.name}: child {inc.id!r}"
        event: Event
        if not inc.started:
            log.warning("%s failed to start: %s", where, reason)
            self._last_failure = f"child {inc.id!r} failed to start: {reason}"
            event = ChildStartFailed(inc.id, reason)
        elif inc.stopping:
            log.debug("%s stopped: %s", where, reason)
            event = ChildStopped(inc.id)
        else:
            sub = inc.sub
            if sub is not None and sub._exit is not None and sub._exit.cause == "intensity":
                log.warning("%s gave up: %s", where, reason)  # shutdown, as in OTP
                self._last_failure = f"child {inc.id!r} exited with {reason}"
            elif reason.is_normal:
                log.info("%s exited: %s", where, reason)
            else:
                log.warning("%s exited: %s", where, reason)
                self._last_failure = f"child {inc.id!r} exited with {reason}"
            event = ChildExited(inc.id, reason)
        self._feed(event)
        if len(self._last_exit) > self._prune_at:  # forget forgotten children, amortized O(1)
            status_of = self._core.status_of
            self._last_exit = {k: v for k, v in self._last_exit.items() if status_of(k)}
            self._prune_at = 2 * len(self._last_exit) + 64

    async def _run_actor(self, inc: Incarnation, start: ActorStart) -> ExitReason:
        host = self._host
        assert host is not None
        try:
            with inc.scope:  # cancelled only by CancelStart; spawn kills what it began
                pid = await host.spawn(start.component, start.init, name=start.name)
        except HostkitError as exc:
            return ExitReason("error", str(exc))
        if inc.cancelled:
            return _START_CANCELLED
        inc.pid = pid
        monitor = inc.monitor = host.monitor(pid)
        try:
            if start.trap_exit:
                with contextlib.suppress(NoProc):
                    host.set_trap_exit(pid, True)
            self._started(inc, pid)
            reason = await monitor.wait()
        finally:
            if monitor.down is None:  # cancelled from outside: a brutal stop
                monitor.cancel()
                host.kill(pid)
        if reason.kind == "noproc":  # it ended between spawn and monitor
            with contextlib.suppress(NoProc):
                reason = await host.wait(pid)
        return reason

    async def _run_task(self, inc: Incarnation, start: TaskStart) -> ExitReason:
        reason = NORMAL
        try:
            with inc.scope:
                if start.wait_started:
                    await start.async_fn(*start.args, task_status=_TaskStatus(self, inc))
                    if not inc.started:
                        reason = ExitReason("error", "returned before task_status.started()")
                else:
                    self._started(inc, None)
                    await start.async_fn(*start.args)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reason = ExitReason("error", detail)
            log.error(
                "supervisor %s: task child %r raised %s",
                self.name,
                inc.id,
                detail,
                exc_info=exc,
            )
        if inc.stopping and reason is NORMAL:
            reason = SHUTDOWN
        return _START_CANCELLED if inc.cancelled and not inc.started else reason

    async def _run_nested(self, inc: Incarnation, start: SupervisorStart) -> ExitReason:
        rng = random.Random(self._rng.getrandbits(64))
        core: SupervisorCore | DynamicSupervisorCore
        if start.dynamic:
            core = DynamicSupervisorCore(start.flags, rng=rng)
        else:
            core = SupervisorCore(start.flags, start.children, rng=rng)
        sub = inc.sub = Supervisor(self._host, core, f"{self.name}/{inc.id}", rng)
        reason = KILLED
        with inc.scope:
            reason = (await sub._run(lambda: self._started(inc, sub))).reason
        return _START_CANCELLED if inc.cancelled and not inc.started else reason
