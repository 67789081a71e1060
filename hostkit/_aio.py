"""The asyncio facade: a host for asyncio applications (see :mod:`hostkit.aio`,
the public module, for the why and the how)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from ._aio_bridge import Mode, _Bridge, _until_done
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


class AsyncioMonitor:
    """A monitor of one actor, for asyncio code: exactly one DOWN.

    Get one from :meth:`AsyncioHost.monitor`; do not construct it.

    Attributes:
        pid: The monitored actor.
    """

    def __init__(self, bridge: _Bridge, pid: Pid) -> None:
        self._bridge = bridge
        self.pid = pid
        self._monitor: Monitor | None = None
        self._watch: Job | None = None
        self._down: asyncio.Future[Result[Any]] = bridge.loop.create_future()
        self._cancelled = False

    @property
    def down(self) -> ExitReason | None:
        """The DOWN reason once it arrived, else None."""
        if not self._down.done():
            return None
        result = self._down.result()
        reason: ExitReason | None = result.value if result.error is None else None
        return reason

    async def wait(self) -> ExitReason:
        """Wait for the DOWN and return the monitored actor's exit reason.

        Raises:
            HostClosedError: The host closed first.
            RuntimeError: The monitor was cancelled before a DOWN came.
        """
        if self._cancelled:
            raise RuntimeError(f"the monitor of {self.pid} was cancelled: no DOWN will come")
        result = await asyncio.shield(self._down)
        if self._cancelled and result.value is None:
            raise RuntimeError(f"the monitor of {self.pid} was cancelled: no DOWN will come")
        reason: ExitReason = result.unwrap()
        return reason

    async def cancel(self) -> bool:
        """Demonitor, as :meth:`hostkit.Monitor.cancel`. Returns whether the
        monitor was still active; a DOWN that already arrived stays readable."""
        assert self._monitor is not None and self._watch is not None
        active: bool = await self._bridge.sync(self._monitor.cancel, what="monitor.cancel()")
        if active and self._bridge.portal is not None:
            self._cancelled = True
            self._bridge.portal.cancel(self._watch)
        return active


class AsyncioSupervisor:
    """A running supervisor, for asyncio code: the methods of
    :class:`hostkit.supervision.Supervisor`, as coroutines.

    Get one from :meth:`AsyncioHost.open_supervisor`,
    :meth:`AsyncioHost.open_dynamic_supervisor` or :meth:`child_supervisor`;
    do not construct it. Its ``TaskStart`` children are Trio functions and
    run on the host's Trio run.
    """

    def __init__(self, bridge: _Bridge, sup: Supervisor) -> None:
        self._bridge = bridge
        self._sup = sup
        self.name = sup.name

    def __repr__(self) -> str:
        return f"<AsyncioSupervisor {self.name!r}>"

    async def exit_reason(self) -> ExitReason | None:
        """Why the supervisor exited, or None while it runs (a property of
        the Trio ``Supervisor``; a coroutine here, as it crosses to Trio)."""
        return await self._bridge.sync(lambda: self._sup.exit_reason, what="supervisor.exit_reason")  # type: ignore[no-any-return]

    async def which_children(self) -> tuple[ChildNode, ...]:
        """As :meth:`Supervisor.which_children`."""
        return await self._bridge.sync(self._sup.which_children, what="supervisor.which_children()")  # type: ignore[no-any-return]

    async def tree(self) -> SupervisorTree:
        """As :meth:`Supervisor.tree`."""
        return await self._bridge.sync(self._sup.tree, what="supervisor.tree()")  # type: ignore[no-any-return]

    async def child_supervisor(self, id: str) -> AsyncioSupervisor:
        """As :meth:`Supervisor.child_supervisor`.

        Raises:
            NoProc: No such running child supervisor.
        """
        sub = await self._bridge.sync(
            self._sup.child_supervisor, id, what=f"supervisor.child_supervisor({id!r})"
        )
        return AsyncioSupervisor(self._bridge, sub)

    async def start_child(self, spec: ChildSpec) -> Pid | AsyncioSupervisor | None:
        """As :meth:`Supervisor.start_child`; a nested supervisor comes back
        as an :class:`AsyncioSupervisor`.

        Raises:
            SupervisorSpecError, SpawnError, NoProc: as for the Trio method.
        """
        value = await self._bridge.run(
            self._sup.start_child, spec, what=f"supervisor.start_child({spec.id!r})"
        )
        return AsyncioSupervisor(self._bridge, value) if isinstance(value, Supervisor) else value

    async def terminate_child(self, id: str) -> None:
        """As :meth:`Supervisor.terminate_child`."""
        await self._bridge.run(
            self._sup.terminate_child, id, what=f"supervisor.terminate_child({id!r})"
        )

    async def stop(self) -> None:
        """As :meth:`Supervisor.stop`."""
        await self._bridge.run(self._sup.stop, what="supervisor.stop()")

    async def wait(self) -> ExitReason:
        """As :meth:`Supervisor.wait`."""
        return await self._bridge.run(self._sup.wait, what="supervisor.wait()")  # type: ignore[no-any-return]


@asynccontextmanager
async def _held_supervisor(
    bridge: _Bridge, make: Callable[[], Any], what: str
) -> AsyncIterator[AsyncioSupervisor]:
    portal = bridge.check(what)
    entered: asyncio.Future[Result[Any]] = bridge.loop.create_future()
    done: asyncio.Future[Result[Any]] = bridge.loop.create_future()
    on_entered = bridge.settler(entered)
    leave = trio.Event()
    job = Job(
        hold, (make, lambda sup: on_entered(Result(sup)), leave), bridge.settler(done), what=what
    )
    portal.submit(job)
    first = asyncio.ensure_future(asyncio.wait([entered, done], return_when="FIRST_COMPLETED"))
    try:
        await asyncio.shield(first)
    except asyncio.CancelledError:
        portal.cancel(job)
        await _until_done(done)
        raise
    if not entered.done():
        done.result().unwrap()  # the start failed: this raises
    try:
        sup: Supervisor = entered.result().unwrap()
        yield AsyncioSupervisor(bridge, sup)
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError):
            # Cancelled from outside, as under Trio: the children are killed at once.
            portal.cancel(job)
        else:
            portal.run_soon(leave.set)  # an orderly stop
        await _until_done(done)
        note_failure(exc, done.result())
        raise
    portal.run_soon(leave.set)
    await _until_done(done)
    done.result().unwrap()


class AsyncioHost:
    """A running host for asyncio code: the methods of :class:`hostkit.Host`,
    as coroutines on the loop that opened it.

    Get one from :func:`open_host`; do not construct it. Each call runs on
    the host's own Trio run; exceptions from hostkit's error tree come back
    unchanged; cancelling the awaiting task (``task.cancel()``,
    ``asyncio.timeout``) cancels the operation on the Trio side too.
    """

    def __init__(self, bridge: _Bridge) -> None:
        self._bridge = bridge
        assert bridge.config is not None and bridge.portal is not None
        self._host: Host = bridge.portal.host
        self.config: HostConfig = bridge.config
        self.pid: Pid = HOST_PID

    @property
    def mode(self) -> Mode:
        """Where the host's Trio run lives: ``"thread"`` or ``"guest"``."""
        return self._bridge.mode

    # -- components and actors --------------------------------------------------------
    async def load(self, source: _Source, *, name: str | None = None) -> Component:
        """As :meth:`Host.load`; the compile runs in a worker thread, never
        on the event loop.

        Raises:
            ComponentLoadError: naming the component and the problem.
        """
        return await self._bridge.run(  # type: ignore[no-any-return]
            lambda: self._host.load_async(source, name=name), what="host.load()"
        )

    async def spawn(
        self, component: Component | str, init: str = "", *, name: str | None = None
    ) -> Pid:
        """As :meth:`Host.spawn`. Cancelled, it leaves no actor behind.

        Raises:
            SpawnError: as for :meth:`Host.spawn`.
        """
        return await self._bridge.run(  # type: ignore[no-any-return]
            lambda: self._host.spawn(component, init, name=name), what="host.spawn()"
        )

    async def send(self, pid: Pid | int, msg: str) -> None:
        """As :meth:`Host.send`: returns once ``msg`` is enqueued.

        Raises:
            MailboxFull, MessageTooLarge, NoProc: as for :meth:`Host.send`.
        """
        await self._bridge.sync(self._host.send, pid, msg, what="host.send()")

    async def call(self, pid: Pid | int, msg: str, *, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        """As :meth:`Host.call`: send ``msg`` as a call and wait for the reply.

        ``timeout`` is part of the call protocol, as in the Trio host;
        ``asyncio.timeout`` around it works too (and cancels the call).

        Raises:
            CallTimeout: no reply within ``timeout`` seconds.
            ActorExited, MailboxFull, MessageTooLarge, NoProc: as for :meth:`Host.call`.
        """
        return await self._bridge.run(  # type: ignore[no-any-return]
            call, self._host, pid, msg, timeout, what=f"host.call({Pid(int(pid))})"
        )

    async def kill(self, pid: Pid | int) -> None:
        """As :meth:`Host.kill`."""
        await self._bridge.sync(self._host.kill, pid, what="host.kill()")

    async def stop(self, pid: Pid | int, reason: str = "shutdown") -> None:
        """As :meth:`Host.stop`."""
        await self._bridge.sync(self._host.stop, pid, reason, what="host.stop()")

    async def exit(self, pid: Pid | int, reason: ExitReason | str) -> None:
        """As :meth:`Host.exit`: send an exit signal."""
        await self._bridge.sync(self._host.exit, pid, reason, what="host.exit()")

    async def wait(self, pid: Pid | int) -> ExitReason:
        """As :meth:`Host.wait`.

        Raises:
            NoProc: ``pid`` never existed here.
        """
        return await self._bridge.run(self._host.wait, pid, what=f"host.wait({Pid(int(pid))})")  # type: ignore[no-any-return]

    async def whereis(self, name: str) -> Pid | None:
        """As :meth:`Host.whereis`."""
        return await self._bridge.sync(self._host.whereis, name, what="host.whereis()")  # type: ignore[no-any-return]

    async def register(self, pid: Pid | int, name: str) -> None:
        """As :meth:`Host.register`."""
        await self._bridge.sync(self._host.register, pid, name, what="host.register()")

    async def actors(self) -> list[dict[str, Any]]:
        """As :meth:`Host.actors`."""
        return await self._bridge.sync(self._host.actors, what="host.actors()")  # type: ignore[no-any-return]

    async def is_alive(self, pid: Pid | int) -> bool:
        """As :meth:`Host.is_alive`."""
        return await self._bridge.sync(self._host.is_alive, pid, what="host.is_alive()")  # type: ignore[no-any-return]

    # -- links and monitors ------------------------------------------------------------
    async def link(self, a: Pid | int, b: Pid | int) -> None:
        """As :meth:`Host.link`."""
        await self._bridge.sync(self._host.link, a, b, what="host.link()")

    async def unlink(self, a: Pid | int, b: Pid | int) -> None:
        """As :meth:`Host.unlink`."""
        await self._bridge.sync(self._host.unlink, a, b, what="host.unlink()")

    async def set_trap_exit(self, pid: Pid | int, on: bool) -> bool:
        """As :meth:`Host.set_trap_exit`."""
        old: bool = await self._bridge.sync(
            self._host.set_trap_exit, pid, on, what="host.set_trap_exit()"
        )
        return old

    async def monitor(self, pid: Pid | int) -> AsyncioMonitor:
        """As :meth:`Host.monitor`: returns once the monitor is in place."""
        bridge = self._bridge
        portal = bridge.check("host.monitor()")
        mon = AsyncioMonitor(bridge, Pid(int(pid)))
        placed: asyncio.Future[Result[Any]] = bridge.loop.create_future()
        on_placed = bridge.settler(placed)
        on_down = bridge.settler(mon._down)

        def done(result: Result[Any]) -> None:
            on_placed(result)  # a no-op once placed; else why placing failed
            on_down(result)

        job = Job(
            watch_monitor,
            (self._host, pid, lambda m: on_placed(Result(m))),
            done,
            what=f"host.monitor({mon.pid})",
        )
        mon._watch = job
        portal.submit(job)
        try:
            result = await asyncio.shield(placed)
        except asyncio.CancelledError:
            portal.cancel(job)
            await _until_done(mon._down)
            raise
        mon._monitor = result.unwrap()
        return mon

    # -- supervisors -----------------------------------------------------------------
    def open_supervisor(
        self,
        flags: SupervisorFlags,
        children: Iterable[ChildSpec] = (),
        *,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> AbstractAsyncContextManager[AsyncioSupervisor]:
        """As :func:`hostkit.supervision.open_supervisor` on this host: an
        ``async with`` block yielding an :class:`AsyncioSupervisor`.

        The children start before the block is entered; leaving it stops
        them in reverse order; cancelling it from outside kills them at once.
        If the supervisor gives up, its methods raise :class:`~hostkit.NoProc`
        and leaving the block raises :class:`~hostkit.RestartIntensityExceeded`
        (the asyncio block itself is not interrupted).
        """
        children = tuple(children)
        return _held_supervisor(
            self._bridge,
            lambda: open_supervisor(self._host, flags, children, name=name, rng=rng),
            "host.open_supervisor()",
        )

    def open_dynamic_supervisor(
        self, flags: SupervisorFlags, *, name: str | None = None, rng: random.Random | None = None
    ) -> AbstractAsyncContextManager[AsyncioSupervisor]:
        """As :func:`hostkit.supervision.open_dynamic_supervisor`; see :meth:`open_supervisor`."""
        return _held_supervisor(
            self._bridge,
            lambda: open_dynamic_supervisor(self._host, flags, name=name, rng=rng),
            "host.open_dynamic_supervisor()",
        )

    # -- lifecycle -------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the host, as leaving :func:`open_host`'s ``async with`` block does.

        Stops taking calls (later ones raise :class:`~hostkit.HostClosedError`),
        stops every actor (``terminate`` first, killed after the config's
        ``shutdown_timeout``), ends calls still pending in other tasks
        (``ActorExited`` or ``HostClosedError``) and ends the host's Trio run
        (joining its thread). Idempotent. Cancelling it does not stop the
        close: the cancellation is raised once the close is done.

        Raises:
            Whatever closing the Trio host raised (e.g. ``AuditError``).
        """
        await self._bridge.close()


@asynccontextmanager
async def open_host(
    config: HostConfig | None = None,
    *,
    host_functions: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
    resolver: Callable[[str, str, Any], Callable[..., Any] | None] | None = None,
    capabilities: Any = None,
    mode: Mode = "thread",
    thread_name: str = "hostkit-trio",
) -> AsyncIterator[AsyncioHost]:
    """Open a host for asyncio code for the duration of an ``async with`` block.

    Runs :func:`hostkit.open_host` with these arguments on a Trio run of its
    own and yields an :class:`AsyncioHost` whose methods are coroutines on
    the running loop. On exit, normal or by an exception (cancellation
    included), the host is closed as by :meth:`AsyncioHost.aclose`.

    Args:
        config, host_functions, resolver, capabilities: As for
            :func:`hostkit.open_host`.
        mode: ``"thread"`` (default): Trio runs in a thread of its own, so a
            busy or blocked event loop never stalls the host (its
            supervisors, timers and replies). ``"guest"``: Trio runs as a
            guest on this loop (``trio.lowlevel.start_guest_run``), no extra
            thread for Trio; see ``docs/embedding.md`` for the measurements.
        thread_name: The name of the host's Trio thread (``mode="thread"``).

    Raises:
        ValueError: ``mode`` is neither ``"thread"`` nor ``"guest"``.
        RuntimeError: ``mode="guest"`` while a Trio run (say, another guest-mode
            host) is active on this thread.
        Whatever :func:`hostkit.open_host` raises.
    """
    if mode not in ("thread", "guest"):
        raise ValueError(f"mode must be 'thread' or 'guest', got {mode!r}")
    if mode == "guest" and trio.lowlevel.in_trio_run():
        raise RuntimeError(
            "a Trio run is already active on this thread (another hostkit.aio host in "
            "guest mode?); Trio allows one per thread: use mode='thread' for this host"
        )
    bridge = _Bridge(asyncio.get_running_loop(), mode)
    await bridge.open(
        {
            "config": config,
            "host_functions": host_functions,
            "resolver": resolver,
            "capabilities": capabilities,
        },
        thread_name,
    )
    host = AsyncioHost(bridge)
    try:
        yield host
    finally:
        await bridge.close()
