"""The blocking facade: a host for synchronous applications (see
:mod:`hostkit.blocking`, the public module, for the why and the how)."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Any

import trio

from ._blocking_bridge import _Bridge, _next_done
from ._portal import (
    Job,
    Result,
    call,
    hold,
    note_failure,
    watch_monitor,
)
from .runtime import HOST_PID, Component, ExitReason, Host, HostConfig, Monitor, Pid
from .supervision import (
    ChildNode,
    ChildSpec,
    Supervisor,
    SupervisorFlags,
    SupervisorTree,
    open_dynamic_supervisor,
    open_supervisor,
)

_Source = str | os.PathLike[str] | bytes


class BlockingMonitor:
    """A monitor of one actor, for blocking code: exactly one DOWN.

    Get one from :meth:`BlockingHost.monitor`; do not construct it.

    Attributes:
        pid: The monitored actor.
    """

    def __init__(self, bridge: _Bridge, pid: Pid) -> None:
        self._bridge = bridge
        self.pid = pid
        self._monitor: Monitor | None = None
        self._watch: Job | None = None
        self._done = threading.Event()
        self._result: Result[ExitReason] | None = None
        self._cancelled = False

    def _fire(self, result: Result[ExitReason]) -> None:  # on the Trio thread
        self._result = result
        self._done.set()

    @property
    def down(self) -> ExitReason | None:
        """The DOWN reason once it arrived, else None."""
        result = self._result
        return result.value if result is not None and result.error is None else None

    def wait(self, timeout: float | None = None) -> ExitReason:
        """Block until the DOWN and return the monitored actor's exit reason.

        Args:
            timeout: Seconds to wait; None waits for ever.

        Raises:
            TimeoutError: No DOWN within ``timeout``; the monitor stays active.
            HostClosedError: The host closed first.
            RuntimeError: The monitor was cancelled before a DOWN came.
        """
        if self._cancelled:
            raise RuntimeError(f"the monitor of {self.pid} was cancelled: no DOWN will come")
        if not self._done.wait(timeout):
            raise TimeoutError(f"no DOWN from {self.pid} within {timeout} s")
        assert self._result is not None
        if self._cancelled and self._result.value is None:
            raise RuntimeError(f"the monitor of {self.pid} was cancelled: no DOWN will come")
        if self._result.error is not None:
            raise self._result.error
        assert self._result.value is not None
        return self._result.value

    def cancel(self) -> bool:
        """Demonitor, as :meth:`hostkit.Monitor.cancel`. Returns whether the
        monitor was still active; a DOWN that already arrived stays readable."""
        assert self._monitor is not None and self._watch is not None
        active: bool = self._bridge.sync(self._monitor.cancel, what="monitor.cancel()")
        if active:
            self._cancelled = True
            portal = self._bridge.portal
            if portal is not None:
                portal.cancel(self._watch)
        return active


class BlockingSupervisor:
    """A running supervisor, for blocking code: the methods of
    :class:`hostkit.supervision.Supervisor`, blocking.

    Get one from :meth:`BlockingHost.open_supervisor`,
    :meth:`BlockingHost.open_dynamic_supervisor` or
    :meth:`child_supervisor`; do not construct it. Its ``TaskStart``
    children are Trio functions and run on the host's Trio thread.
    """

    def __init__(self, bridge: _Bridge, sup: Supervisor) -> None:
        self._bridge = bridge
        self._sup = sup
        self.name = sup.name

    def __repr__(self) -> str:
        return f"<BlockingSupervisor {self.name!r}>"

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why the supervisor exited, or None while it runs."""
        return self._bridge.sync(lambda: self._sup.exit_reason, what="supervisor.exit_reason")  # type: ignore[no-any-return]

    def which_children(self) -> tuple[ChildNode, ...]:
        """As :meth:`Supervisor.which_children`."""
        return self._bridge.sync(self._sup.which_children, what="supervisor.which_children()")  # type: ignore[no-any-return]

    def tree(self) -> SupervisorTree:
        """As :meth:`Supervisor.tree`."""
        return self._bridge.sync(self._sup.tree, what="supervisor.tree()")  # type: ignore[no-any-return]

    def child_supervisor(self, id: str) -> BlockingSupervisor:
        """As :meth:`Supervisor.child_supervisor`.

        Raises:
            NoProc: No such running child supervisor.
        """
        sub = self._bridge.sync(
            self._sup.child_supervisor, id, what=f"supervisor.child_supervisor({id!r})"
        )
        return BlockingSupervisor(self._bridge, sub)

    def start_child(
        self, spec: ChildSpec, *, timeout: float | None = None
    ) -> Pid | BlockingSupervisor | None:
        """As :meth:`Supervisor.start_child`; a nested supervisor comes back
        as a :class:`BlockingSupervisor`.

        Raises:
            TimeoutError: Not started within ``timeout`` s (the start is cancelled).
            SupervisorSpecError, SpawnError, NoProc: as for the Trio method.
        """
        value = self._bridge.run(
            self._sup.start_child,
            spec,
            what=f"supervisor.start_child({spec.id!r})",
            timeout=timeout,
        )
        return BlockingSupervisor(self._bridge, value) if isinstance(value, Supervisor) else value

    def terminate_child(self, id: str, *, timeout: float | None = None) -> None:
        """As :meth:`Supervisor.terminate_child`."""
        self._bridge.run(
            self._sup.terminate_child,
            id,
            what=f"supervisor.terminate_child({id!r})",
            timeout=timeout,
        )

    def stop(self, *, timeout: float | None = None) -> None:
        """As :meth:`Supervisor.stop`."""
        self._bridge.run(self._sup.stop, what="supervisor.stop()", timeout=timeout)

    def wait(self, *, timeout: float | None = None) -> ExitReason:
        """As :meth:`Supervisor.wait`.

        Raises:
            TimeoutError: Still running after ``timeout`` s.
        """
        return self._bridge.run(self._sup.wait, what="supervisor.wait()", timeout=timeout)  # type: ignore[no-any-return]


@contextmanager
def _held_supervisor(
    bridge: _Bridge, make: Callable[[], Any], what: str
) -> Iterator[BlockingSupervisor]:
    portal = bridge.check(what)
    events: SimpleQueue[tuple[str, Any]] = SimpleQueue()
    leave = trio.Event()
    job = Job(
        hold,
        (make, lambda sup: events.put(("entered", sup)), leave),
        lambda result: events.put(("done", result)),
        what=what,
    )
    portal.submit(job)
    try:
        kind, value = events.get()
    except BaseException:
        portal.cancel(job)
        _next_done(events)
        raise
    if kind == "done":
        value.unwrap()  # the start failed: this raises
        raise AssertionError("a supervisor job ended without starting or failing")
    try:
        yield BlockingSupervisor(bridge, value)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            portal.cancel(job)  # Ctrl-C: kill the children at once
        else:
            portal.run_soon(leave.set)  # an orderly stop
        note_failure(exc, _next_done(events))
        raise
    portal.run_soon(leave.set)
    _next_done(events).unwrap()


class BlockingHost:
    """A running host for synchronous code: the methods of
    :class:`hostkit.Host`, each blocking until done, callable from any
    thread, from several at once.

    Get one from :func:`open_host`; do not construct it. Each call runs on
    the host's own Trio thread; exceptions from hostkit's error tree come
    back unchanged. A method called after :meth:`close` raises
    :class:`~hostkit.HostClosedError`.
    """

    def __init__(self, bridge: _Bridge, host: Host) -> None:
        self._bridge = bridge
        self._host = host
        assert bridge.config is not None
        self.config: HostConfig = bridge.config
        self.pid: Pid = HOST_PID

    # -- components and actors --------------------------------------------------------
    def load(self, source: _Source, *, name: str | None = None) -> Component:
        """As :meth:`Host.load`; the compile runs in a worker thread, so the
        host keeps serving other callers meanwhile.

        There is no ``timeout=``: a compile cannot be interrupted, so it
        could not be kept. Bound it with ``HostConfig.max_component_bytes``.

        Raises:
            ComponentLoadError: naming the component and the problem.
        """
        return self._bridge.run(  # type: ignore[no-any-return]
            lambda: self._host.load_async(source, name=name), what="host.load()"
        )

    def spawn(
        self,
        component: Component | str,
        init: str = "",
        *,
        name: str | None = None,
        timeout: float | None = None,
    ) -> Pid:
        """As :meth:`Host.spawn`: start an actor, return once its init succeeded.

        Raises:
            SpawnError: as for :meth:`Host.spawn`.
            TimeoutError: Not started within ``timeout`` s (the actor is killed).
        """
        return self._bridge.run(  # type: ignore[no-any-return]
            lambda: self._host.spawn(component, init, name=name),
            what="host.spawn()",
            timeout=timeout,
        )

    def send(self, pid: Pid | int, msg: str) -> None:
        """As :meth:`Host.send`: returns once ``msg`` is enqueued.

        Raises:
            MailboxFull, MessageTooLarge, NoProc: as for :meth:`Host.send`.
        """
        self._bridge.sync(self._host.send, pid, msg, what="host.send()")

    def call(self, pid: Pid | int, msg: str, *, timeout: float = 5.0) -> str:
        """As :meth:`Host.call`: send ``msg`` as a call and block for the reply.

        Raises:
            CallTimeout: no reply within ``timeout`` seconds.
            ActorExited, MailboxFull, MessageTooLarge, NoProc: as for :meth:`Host.call`.
        """
        return self._bridge.run(  # type: ignore[no-any-return]
            call, self._host, pid, msg, timeout, what=f"host.call({Pid(int(pid))})"
        )

    def kill(self, pid: Pid | int) -> None:
        """As :meth:`Host.kill`."""
        self._bridge.sync(self._host.kill, pid, what="host.kill()")

    def stop(self, pid: Pid | int, reason: str = "shutdown") -> None:
        """As :meth:`Host.stop`."""
        self._bridge.sync(self._host.stop, pid, reason, what="host.stop()")

    def exit(self, pid: Pid | int, reason: ExitReason | str) -> None:
        """As :meth:`Host.exit`: send an exit signal."""
        self._bridge.sync(self._host.exit, pid, reason, what="host.exit()")

    def wait(self, pid: Pid | int, *, timeout: float | None = None) -> ExitReason:
        """As :meth:`Host.wait`: block until ``pid`` exits and return why.

        Raises:
            NoProc: ``pid`` never existed here.
            TimeoutError: Still alive after ``timeout`` s.
        """
        return self._bridge.run(  # type: ignore[no-any-return]
            self._host.wait, pid, what=f"host.wait({Pid(int(pid))})", timeout=timeout
        )

    def whereis(self, name: str) -> Pid | None:
        """As :meth:`Host.whereis`."""
        return self._bridge.sync(self._host.whereis, name, what="host.whereis()")  # type: ignore[no-any-return]

    def register(self, pid: Pid | int, name: str) -> None:
        """As :meth:`Host.register`."""
        self._bridge.sync(self._host.register, pid, name, what="host.register()")

    def actors(self) -> list[dict[str, Any]]:
        """As :meth:`Host.actors`."""
        return self._bridge.sync(self._host.actors, what="host.actors()")  # type: ignore[no-any-return]

    def is_alive(self, pid: Pid | int) -> bool:
        """As :meth:`Host.is_alive`."""
        return self._bridge.sync(self._host.is_alive, pid, what="host.is_alive()")  # type: ignore[no-any-return]

    # -- links and monitors ------------------------------------------------------------
    def link(self, a: Pid | int, b: Pid | int) -> None:
        """As :meth:`Host.link`."""
        self._bridge.sync(self._host.link, a, b, what="host.link()")

    def unlink(self, a: Pid | int, b: Pid | int) -> None:
        """As :meth:`Host.unlink`."""
        self._bridge.sync(self._host.unlink, a, b, what="host.unlink()")

    def set_trap_exit(self, pid: Pid | int, on: bool) -> bool:
        """As :meth:`Host.set_trap_exit`."""
        return self._bridge.sync(self._host.set_trap_exit, pid, on, what="host.set_trap_exit()")  # type: ignore[no-any-return]

    def monitor(self, pid: Pid | int) -> BlockingMonitor:
        """As :meth:`Host.monitor`: returns once the monitor is in place."""
        portal = self._bridge.check("host.monitor()")
        mon = BlockingMonitor(self._bridge, Pid(int(pid)))
        events: SimpleQueue[tuple[str, Any]] = SimpleQueue()

        def done(result: Result[ExitReason]) -> None:
            events.put(("done", result))
            mon._fire(result)

        job = Job(
            watch_monitor,
            (self._host, pid, lambda m: events.put(("placed", m))),
            done,
            what=f"host.monitor({mon.pid})",
        )
        mon._watch = job
        portal.submit(job)
        kind, value = events.get()
        if kind == "done":
            value.unwrap()  # placing it failed: this raises
        mon._monitor = value
        return mon

    # -- supervisors -----------------------------------------------------------------
    def open_supervisor(
        self,
        flags: SupervisorFlags,
        children: Iterable[ChildSpec] = (),
        *,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> Any:
        """As :func:`hostkit.supervision.open_supervisor` on this host, as a
        ``with`` block that yields a :class:`BlockingSupervisor`.

        The children start before the block is entered; leaving it stops
        them in reverse order. If the supervisor gives up, its methods raise
        :class:`~hostkit.NoProc` and leaving the block raises
        :class:`~hostkit.RestartIntensityExceeded` (blocking code cannot be
        cancelled from outside, so the block is not interrupted).
        """
        children = tuple(children)
        return _held_supervisor(
            self._bridge,
            lambda: open_supervisor(self._host, flags, children, name=name, rng=rng),
            "host.open_supervisor()",
        )

    def open_dynamic_supervisor(
        self, flags: SupervisorFlags, *, name: str | None = None, rng: random.Random | None = None
    ) -> Any:
        """As :func:`hostkit.supervision.open_dynamic_supervisor`; see :meth:`open_supervisor`."""
        return _held_supervisor(
            self._bridge,
            lambda: open_dynamic_supervisor(self._host, flags, name=name, rng=rng),
            "host.open_dynamic_supervisor()",
        )

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the host, as leaving :func:`open_host`'s ``with`` block does.

        Stops taking calls (later ones raise :class:`~hostkit.HostClosedError`),
        stops every actor (``terminate`` first, killed after the config's
        ``shutdown_timeout``), ends calls still pending in other threads
        (:class:`~hostkit.ActorExited` or ``HostClosedError``), then joins the
        host's Trio thread. Idempotent and thread-safe; not from the host's
        own Trio thread. A Ctrl-C meanwhile is raised once the thread is joined.

        Raises:
            RuntimeError: Called from the host's Trio thread.
            Whatever closing the Trio host raised (e.g. ``AuditError``).
        """
        self._bridge.close()


@contextmanager
def open_host(
    config: HostConfig | None = None,
    *,
    host_functions: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
    resolver: Callable[[str, str, Any], Callable[..., Any] | None] | None = None,
    capabilities: Any = None,
    thread_name: str = "hostkit-trio",
) -> Iterator[BlockingHost]:
    """Open a host for synchronous code for the duration of a ``with`` block.

    Starts a Trio thread that runs :func:`hostkit.open_host` with these
    arguments and yields a :class:`BlockingHost` whose methods block. On
    exit, normal or by an exception, the host is closed as by
    :meth:`BlockingHost.close` and the thread is joined.

    Args:
        config: As for :func:`hostkit.open_host`.
        host_functions: As for :func:`hostkit.open_host`; they run on the
            host's scheduler threads.
        resolver: As for :func:`hostkit.open_host`.
        capabilities: As for :func:`hostkit.open_host` (a
            :class:`hostkit.capabilities.Gate`).
        thread_name: The name of the host's Trio thread.

    Raises:
        Whatever :func:`hostkit.open_host` raises, e.g. ``ValueError`` for
        ``resolver`` together with ``capabilities``.
    """
    bridge = _Bridge()
    bridge.open(
        {
            "config": config,
            "host_functions": host_functions,
            "resolver": resolver,
            "capabilities": capabilities,
        },
        thread_name,
    )
    assert bridge.portal is not None
    host = BlockingHost(bridge, bridge.portal.host)
    try:
        yield host
    finally:
        bridge.close()
