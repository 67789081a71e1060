"""The Trio-facing host: ``open_host`` and ``Host`` (``HostConfig`` is in ``_config``)."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import trio

from .._errors import (
    ActorExited,
    AuditError,
    CallDeadlock,
    CallTimeout,
    HostClosedError,
    NoProc,
    SpawnError,
)
from .._events import (
    ActorRestarted,
    AuditSubscriber,
    EventBus,
    SpawnRefused,
)
from .._pid import SHUTDOWN, ExitReason, Pid
from ._actors import EXITED, SPAWNING, Actor, Waiter, describe
from ._config import HostConfig
from ._handles import CapabilityLayer, Monitor, Recorder, ReplySlot, TrioInbox, thread_error
from ._host_load import ComponentLoading
from ._host_signals import HostSignals
from ._process import ProcessImports
from ._reaper import Reaper
from ._registry import SpawnRefused as _Refused
from ._remote import PidResolver, RemoteDelivery, RemotePort
from ._router import FULL, refusal
from ._scheduler import Scheduler
from ._spawn import HostSpawns, SpawnSlot
from ._wasm import (
    CompiledComponent,
    HostFunction,
    ImportResolver,
    Instance,
    WasmEngine,
)

__all__ = ["CapabilityLayer", "Component", "Host", "HostConfig", "Monitor", "open_host"]

log = logging.getLogger("hostkit.host")
_get_ident = threading.get_ident
guest_log = logging.getLogger("hostkit.guest")

Component = CompiledComponent


class Host(ComponentLoading, HostSignals):
    """A running host. Get one from :func:`open_host`; do not construct it.

    All methods must be called from the Trio thread that opened the host
    (others raise :class:`~hostkit.WrongThreadError`).
    """

    def __init__(
        self,
        config: HostConfig,
        host_functions: Sequence[HostFunction],
        resolver: ImportResolver | None = None,
        capabilities: CapabilityLayer | None = None,
        audit: Recorder | None = None,
    ) -> None:
        if capabilities is not None:
            if resolver is not None:
                raise ValueError("pass resolver= or capabilities=, not both")
            resolver = capabilities.resolve
        self.config = config
        self.components: dict[str, CompiledComponent] = {}
        self._closed = False
        self._timer_scope = trio.CancelScope()  # the timer driver's, see _start
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.get_ident()
        # results from scheduler threads reach Trio through one inbox
        inbox = TrioInbox(self._token)
        self._post = inbox.post
        self._post_tls = inbox.tls
        self._flush_deferred = inbox.flush
        self._drain = inbox.drain
        #: The stream of typed host events (see ``hostkit._events``).
        self.events = EventBus()
        recorder = audit if audit is not None else capabilities
        if recorder is not None:
            self.events.subscribe(AuditSubscriber(recorder), essential=True)
        self._recorder = recorder
        #: Drawn at every boot: pids of an earlier boot never name actors of this one.
        self.creation = secrets.randbits(32) or 1
        self._sched = Scheduler(self, config.scheduler_threads, config.node_name, self.creation)
        self._router = self._sched.router
        self._spawns = HostSpawns(self._sched, self._post)
        cfg = config
        self.engine = WasmEngine(
            process_api=ProcessImports(self._sched),
            host_functions=host_functions,
            cache_dir=None if cfg.cache_dir is None else Path(cfg.cache_dir),
            tick_seconds=cfg.tick_seconds,
            fuel=cfg.fuel_per_activation is not None,
            wasi=cfg.wasi,
            max_component_bytes=cfg.max_component_bytes,
            resolver=resolver,
            pool=cfg.pool(),
            arena=cfg.arena_settings(),
        )
        self._reaper = Reaper()
        self._exit_hooks: list[Callable[[Pid, ExitReason], None]] = []
        self._capabilities = capabilities
        if capabilities is not None:
            capabilities.attach(self)

    def stdio_for(self, actor: Actor) -> Callable[[bytes], None] | None:
        if not actor.component.needs_wasi:
            return None
        from ._stdio import GuestStdio  # imported here: this method is _stdio's only user

        # Bounded, escaped and tagged per actor: see runtime/_stdio.py.
        return GuestStdio(str(actor.pid), actor.component.name, logger=guest_log)

    def audit(self, event: str, /, **fields: Any) -> None:
        """Record an event the host cannot see itself (a supervisor's
        ``restart``): published on :attr:`events` as ``ActorRestarted``, so
        written to the host's audit log when it has one.

        Raises:
            AuditError: the log refused the record.
        """
        self.events.publish(ActorRestarted(event, dict(fields)))

    def drop_instance(self, inst: Instance) -> None:
        """Drop a dead actor's instance; the reaper deletes its Store (see
        ``_reaper``), off whichever thread ended the actor."""
        store = inst.store
        self._reaper.reap(store, inst.drop(later=True))

    def flush_dropped(self) -> None:
        """Wait until every Store dropped so far is deleted: a spawn refused
        for want of pool slots or mappings calls this before trying again."""
        self._reaper.flush()

    def actor_exited(self, actor: Actor, reason: ExitReason) -> None:
        """Called once per actor, from whichever thread ended it."""
        with actor.lock:
            waiters, actor.exit_waiters = actor.exit_waiters, []
            spawn_waiter, actor.spawn_waiter = actor.spawn_waiter, None
        if spawn_waiter is not None:
            # ended before its spawn was reported (a host error mid-spawn):
            # report it now, or its spawner would wait forever
            spawn_waiter(f"ended while spawning: {reason}")
        if not reason.is_normal:
            log.info("%s (%s) exited: %s", actor.pid, actor.component.name, reason)
        pid = actor.pid
        for hook in self._exit_hooks:
            hook(pid, reason)
        for w in waiters:
            self._notify(lambda w=w: w(reason))  # type: ignore[misc]

    def _notify(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the Trio thread: now if this is it, else posted.
        Only for callbacks that just wake Trio tasks (a `Monitor`'s DOWN,
        a ``wait()``'s exit): they are safe to run from any point of the
        Trio thread's own code, and running them at once spares a
        ``run_sync_soon`` round through Trio's wake-up socket and loop."""
        if _get_ident() == self._thread:
            fn()
        else:
            self._post(fn)

    # -- public API --------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed or self._sched.closing:
            raise HostClosedError("the host is closed; open a new one with hostkit.open_host()")

    def _check_thread(self, api: str) -> None:
        if threading.get_ident() != self._thread:
            raise thread_error(api)

    async def spawn(
        self, component: Component | str, init: str = "", *, name: str | None = None
    ) -> Pid:
        """Start an actor and wait until its ``init`` succeeded.

        Spawns made while others are in flight are grouped per component
        and reported to Trio together (see "Scheduler threads" in
        docs/concepts.md). Cancelling the wait kills the actor; its spawn is
        still recorded (``spawn`` or ``spawn-refused``).

        Raises:
            SpawnError: init returned an error, trapped or ran out of budget,
                the Store limits or the OS refused the instance, a live-actor
                cap (``max_actors``, ``max_actors_per_plugin``) is reached,
                or ``name`` is taken.
        """
        try:
            self._check_thread("spawn")
            self._check_open()
            comp = self._component(component)
            sched = self._sched
            try:
                actor = sched.new_actor(comp, init.encode())
            except _Refused as exc:
                sched.publish(SpawnRefused(comp.name, str(exc)))
                raise SpawnError(f"cannot spawn {comp.name!r}: {exc}") from None
            if name is not None:
                error = sched.registry.register(actor, name)
                if error is not None:
                    sched.exit(actor, ExitReason("error", error))
                    raise SpawnError(f"cannot spawn {comp.name!r} as {name!r}: {error}")
        except BaseException:
            await trio.lowlevel.checkpoint()
            raise
        slot = SpawnSlot(actor, trio.lowlevel.current_task())
        self._spawns.submit(slot)
        # A bare reschedule, as for a call: no Event per spawn.
        try:
            await trio.lowlevel.wait_task_rescheduled(slot.abort)
        except BaseException:
            sched.kill(actor)
            raise
        if slot.error is not None:
            raise SpawnError(f"spawn of {comp.name!r} failed: {slot.error}")
        return actor.pid

    def _actor(self, pid: Pid | int) -> Actor:
        actor = self._lookup(pid)
        if actor is None:
            raise refusal("noproc", pid, self._router)
        return actor

    def _lookup(self, pid: Pid | int) -> Actor | None:
        return self._sched.actors.get(self._router.local_id(pid) or -1)  # None: another node

    def send(self, pid: Pid | int, msg: str) -> None:
        """Cast ``msg`` to ``pid`` (no reply). Returns once it is enqueued.

        Raises:
            MailboxFull: the target's mailbox (or the host's mailbox budget)
                is full; nothing enqueued. :meth:`send_wait` waits for room.
            MessageTooLarge: ``msg`` exceeds ``max_message_size``.
            NoProc: ``pid`` is not alive, or is on a node this host cannot reach.
        """
        if _get_ident() != self._thread:
            raise thread_error("send")
        if self._closed or self._sched.closing:
            self._check_open()
        code = self._router.send(None, pid, msg.encode())
        if code is not None:
            raise refusal(code, pid, self._router)

    async def send_wait(self, pid: Pid | int, msg: str, *, poll: float = 0.001) -> None:
        """:meth:`send`, but waits while the mailbox is full (polling from
        ``poll`` seconds up to 50 ms apart) instead of raising ``MailboxFull``.

        Raises:
            MessageTooLarge, NoProc: as for :meth:`send`.
        """
        data = msg.encode()
        delay = poll
        while True:
            try:
                self._check_thread("send_wait")
                self._check_open()
                code = self._router.send(None, pid, data)
                if code is not None and code != FULL:
                    raise refusal(code, pid, self._router)
            except BaseException:
                await trio.lowlevel.checkpoint()
                raise
            if code is None:
                await trio.lowlevel.checkpoint()
                return
            await trio.sleep(delay)
            delay = min(delay * 2, 0.05)

    # The timeout is part of the call protocol (like gen_server:call/3), not a
    # substitute for cancel scopes: it also bounds how long the reply slot lives.
    async def call(self, pid: Pid | int, msg: str, *, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        """Send ``msg`` as a call and wait for the reply.

        Raises:
            CallTimeout: no reply within ``timeout`` seconds.
            CallDeadlock: ``pid`` is executing the host function that makes
                this call (re-entry); raised at once.
            ActorExited: the actor exited before replying.
            MailboxFull, MessageTooLarge, NoProc: as for :meth:`send`.
        """
        try:
            self._check_thread("call")
            self._check_open()
            callee = self._router.local_id(pid) or 0
            reply = ReplySlot(trio.lowlevel.current_task())
            wake = reply.wake
            post = self._post
            waiter = Waiter(callee, on_done=lambda _w: post(wake))
            target = self._sched.actors.get(callee)
            if target is not None and self._sched.waits_on_trio(target):
                raise CallDeadlock(
                    f"{target.pid} is executing the host function that made this call "
                    "and waits for it: the call would wait for itself"
                )
            code, ref = self._router.start_call(None, pid, msg.encode(), waiter)
            if code is not None:
                raise refusal(code, pid, self._router)
        except BaseException:
            await trio.lowlevel.checkpoint()
            raise
        # A bare reschedule (no Event, no ParkingLot) and a bare CancelScope
        # (no fail_after): a host call is a hot path, and these are most of
        # what the Trio thread spends on one.
        scope = trio.CancelScope(deadline=trio.current_time() + timeout)
        try:
            with scope:
                await trio.lowlevel.wait_task_rescheduled(reply.abort)
        except BaseException:
            self._router.cancel_call(ref)
            raise
        if scope.cancelled_caught:
            self._router.cancel_call(ref)
            raise CallTimeout(f"no reply from {pid} within {timeout} s")
        if waiter.error is not None:
            raise ActorExited(self._pid(pid), waiter.error[1] or waiter.error[0])
        assert waiter.value is not None
        return waiter.value.decode()

    def _pid(self, pid: Pid | int) -> Pid:
        return pid if isinstance(pid, Pid) else self._sched.registry.pid(int(pid))

    async def wait(self, pid: Pid | int) -> ExitReason:
        """Wait for ``pid`` to exit and return why. Returns at once for an
        actor that already exited (within ``exit_history``).

        Raises:
            NoProc: ``pid`` never existed here (or is too old to remember).
        """
        try:
            self._check_thread("wait")
            aid = self._router.local_id(pid)
            if aid is None:
                raise refusal("noproc", pid, self._router)
            registry = self._sched.registry
            known = registry.exited.get(aid)
            actor = registry.lookup(aid) if known is None else None
            if known is None and actor is None:
                known = registry.exited.get(aid)
                if known is None:
                    raise NoProc(f"{self._pid(pid)} never existed on this host")
            if actor is not None:
                with actor.lock:
                    if actor.state == EXITED and actor.reason is not None:
                        known = actor.reason
                    else:
                        done = trio.Event()
                        box: list[ExitReason] = []

                        def on_exit(reason: ExitReason) -> None:
                            box.append(reason)
                            done.set()

                        actor.exit_waiters.append(on_exit)
        except BaseException:
            await trio.lowlevel.checkpoint()
            raise
        if known is not None:
            await trio.lowlevel.checkpoint()
            return known
        await done.wait()
        return box[0]

    def whereis(self, name: str) -> Pid | None:
        """The pid registered under ``name``, or None."""
        self._check_thread("whereis")
        actor = self._sched.registry.names.get(name)
        return actor.pid if actor is not None else None

    def register(self, pid: Pid | int, name: str) -> None:
        """Register ``pid`` under ``name``. Raises ValueError if taken."""
        self._check_thread("register")
        error = self._sched.registry.register(self._actor(pid), name)
        if error is not None:
            raise ValueError(error)

    def actors(self) -> list[dict[str, Any]]:
        """A snapshot of live actors (pid, component, name, state, mailbox)."""
        return [describe(a) for a in list(self._sched.actors.values())]

    def is_alive(self, pid: Pid | int) -> bool:
        return self._lookup(pid) is not None

    def add_exit_hook(self, hook: Callable[[Pid, ExitReason], None]) -> None:
        """Call ``hook(pid, reason)`` on every exit (from any thread)."""
        self._exit_hooks.append(hook)

    def remote_port(self) -> RemotePort:
        """The port through which remote delivery (federation) reaches this
        host's actors: deliveries, calls, exit signals and DOWNs from other
        nodes, through the router's checks and bounds."""
        port: RemotePort | None = getattr(self, "_remote_port", None)
        if port is None:
            port = self._remote_port = RemotePort(self)
        return port

    def attach_remote(self, delivery: RemoteDelivery, resolver: PidResolver) -> RemotePort:
        """Route other nodes' pids through ``delivery`` and decode guests'
        node-slot pids with ``resolver`` (what ``open_host_federation`` does).

        Returns:
            :meth:`remote_port`; ``detach()`` it when done.

        Raises:
            RuntimeError: remote delivery is attached already.
        """
        self._check_thread("attach_remote")
        return self.remote_port().attach(delivery, resolver)

    @property
    def pid(self) -> Pid:
        """The host's own pid (id 0 on this node): the sender of host-side
        messages."""
        return self._sched.registry.pid(0)

    @property
    def node(self) -> str:
        """This host's node name (``HostConfig.node_name``)."""
        return self.config.node_name

    # -- lifecycle ---------------------------------------------------------------
    async def _start(self) -> None:
        self.engine.start()
        self._reaper.start()
        self._sched.start()
        timers, scope = self._sched.timers, self._timer_scope

        async def drive_timers() -> None:
            with scope:
                await timers.run()

        trio.lowlevel.spawn_system_task(drive_timers, name="hostkit-timers")
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Stop every actor (``terminate`` first, then kill after
        ``shutdown_timeout``), then the scheduler threads and the ticker."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        sched = self._sched
        sched.closing = True
        self._timer_scope.cancel()
        try:
            live = list(sched.actors.values())
            for actor in live:
                if actor.state == SPAWNING:
                    sched.kill(actor, SHUTDOWN)
                else:
                    sched.request_stop(actor, SHUTDOWN)
            with trio.move_on_after(self.config.shutdown_timeout):
                for actor in live:
                    # past exit_history stopped actors, early exit records are
                    # forgotten: wait() would call such an actor unknown
                    if actor.state != EXITED:
                        with suppress(NoProc):
                            await self.wait(actor.pid)
            for actor in list(sched.actors.values()):
                sched.kill(actor, SHUTDOWN)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(sched.stop)
                await trio.to_thread.run_sync(self._reaper.stop)  # Stores before the engine
                await trio.to_thread.run_sync(self.engine.close)
        finally:
            self._closed = True
            self._drain()
            # No guest runs any more: denials counted but not yet summarised
            # are written now, so the log is complete in count at close.
            if self._capabilities is not None:
                try:
                    self._capabilities.flush_denials()
                except AuditError as exc:
                    log.error("could not write the last denial summaries: %s", exc)


@asynccontextmanager
async def open_host(
    config: HostConfig | None = None,
    *,
    host_functions: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
    resolver: ImportResolver | None = None,
    capabilities: CapabilityLayer | None = None,
    audit: Recorder | None = None,
) -> AsyncIterator[Host]:
    """Open a host for the duration of an ``async with`` block.

    Args:
        config: limits and tuning; defaults are safe for untrusted guests.
        host_functions: extra imports as ``{interface: {function: impl}}``;
            ``impl(instance, *args)`` gets wasmtime-py values.
        resolver: called at load for each import nothing above implements,
            as ``resolver(interface, function, func_type)``; returns an impl
            or None (then the load fails naming the import).
        capabilities: the capability gate (:class:`hostkit.capabilities.Gate`):
            binds imports to pluggy hooks behind Cedar decisions, gates
            guests' sends, calls, spawns, links, monitors and names.
            Replaces ``resolver``.
        audit: the audit log (:class:`hostkit.audit.AuditLog`) that records
            the host's events (spawns, exits with their cause, kills, limits,
            protocol violations, restarts), with or without a gate. Default:
            the gate's log when there is a gate, else none.

    Raises:
        WrongThreadError: outside Trio (from asyncio: ``hostkit.aio.open_host``).

    On exit every actor is stopped and every thread joined.
    """
    from ._wasm import host_function_table

    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        raise thread_error("open_host") from None
    host = Host(
        config or HostConfig(),
        host_function_table(host_functions or {}),
        resolver,
        capabilities,
        audit,
    )
    await host._start()
    try:
        yield host
    finally:
        with trio.CancelScope(shield=True):
            await host.aclose()
