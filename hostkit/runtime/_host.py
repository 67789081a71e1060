"""The Trio-facing host: ``open_host``, ``Host`` and ``HostConfig``."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trio

from .._errors import (
    ActorExited,
    CallTimeout,
    ComponentLoadError,
    HostClosedError,
    NoProc,
    SpawnError,
)
from ._actors import EXITED, SPAWNING, Actor, Scheduler, Waiter, describe
from ._pid import HOST_PID, KILLED, SHUTDOWN, ExitReason, Pid
from ._wasm import (
    CompiledComponent,
    CompileLimits,
    CompileProgress,
    HostFunction,
    ImportResolver,
    Limits,
    WasmEngine,
)

log = logging.getLogger("hostkit.host")
guest_log = logging.getLogger("hostkit.guest")

_MiB = 1024 * 1024


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hostkit")) / "components"


@dataclass(frozen=True)
class HostConfig:
    """Limits and tuning of one host. Every field has a safe default.

    Args:
        scheduler_threads: threads that run guests (wasm releases the GIL).
        batch_size: most envelopes delivered to one actor per activation.
        mailbox_capacity: frames an actor's mailbox holds before senders get
            :class:`~hostkit.MailboxFull`.
        max_message_size: largest payload in bytes (UTF-8).
        activation_timeout: wall-clock seconds one guest call may run
            (init, a delivery, terminate) before it is ended with ``deadline``.
        fuel_per_activation: fuel (roughly wasm instructions) per guest call;
            ``None`` turns fuel metering off (epoch deadlines still apply).
        host_call_budget: host imports one activation may make.
        max_memory_bytes / max_table_elements / max_instances / max_tables /
            max_memories: per-Store limits, armed before instantiation.
        max_component_bytes: components larger than this are refused unread.
        tick_seconds: epoch tick; bounds how fast a kill or deadline lands.
        cache_dir: compiled-component cache; ``None`` disables it.
        wasi: offer an *empty* WASI (no env, args, preopens, network) to guests
            that import it, e.g. componentize-py guests.
        shutdown_timeout: seconds closing the host waits for actors'
            ``terminate`` before killing them.
        exit_history: exit reasons remembered for :meth:`Host.wait` after exit.
        compile_cpu_seconds / compile_memory_bytes: CPU time and address space
            of the worker process that compiles one component.
        max_compiled_bytes: largest compiled code a component may produce.
        max_blocking_compile_bytes: largest component a sync :meth:`Host.load`
            compiles on the Trio thread (blocking it); bigger ones need
            :meth:`Host.load_async`. Cached or already loaded ones never do.
        cache_key_file: the key authenticating the compile cache; by default
            ``<cache_dir>.key``, next to (never inside) ``cache_dir``. See
            docs/reference/limits.md.
    """

    scheduler_threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    batch_size: int = 64
    mailbox_capacity: int = 10_000
    max_message_size: int = 1 * _MiB
    activation_timeout: float = 2.0
    fuel_per_activation: int | None = 2_000_000_000
    host_call_budget: int = 10_000
    max_memory_bytes: int = 256 * _MiB
    max_table_elements: int = 100_000
    max_instances: int = 64
    max_tables: int = 64
    max_memories: int = 16
    max_component_bytes: int = 64 * _MiB
    tick_seconds: float = 0.01
    cache_dir: Path | None = field(default_factory=_default_cache_dir)
    wasi: bool = True
    shutdown_timeout: float = 1.0
    exit_history: int = 100_000
    compile_cpu_seconds: int = 120
    compile_memory_bytes: int = 4096 * _MiB
    max_compiled_bytes: int = 512 * _MiB
    max_blocking_compile_bytes: int = 256 * 1024
    cache_key_file: Path | None = None

    def __post_init__(self) -> None:
        positive = (
            "scheduler_threads",
            "batch_size",
            "mailbox_capacity",
            "max_message_size",
            "activation_timeout",
            "host_call_budget",
            "max_memory_bytes",
            "max_instances",
            "max_component_bytes",
            "tick_seconds",
            "exit_history",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"HostConfig.{name} must be a positive number, got {value!r}")
        if self.fuel_per_activation is not None and self.fuel_per_activation <= 0:
            raise ValueError("HostConfig.fuel_per_activation must be positive or None")
        if self.tick_seconds > self.activation_timeout:
            raise ValueError("HostConfig.tick_seconds must not exceed activation_timeout")

    def limits(self) -> Limits:
        return Limits(
            memory_bytes=self.max_memory_bytes,
            table_elements=self.max_table_elements,
            instances=self.max_instances,
            tables=self.max_tables,
            memories=self.max_memories,
        )

    @property
    def fuel(self) -> int:
        return self.fuel_per_activation or 0


Component = CompiledComponent


class CapabilityLayer(Protocol):
    """What :func:`open_host` needs from ``capabilities=`` (the capability
    gate, :class:`hostkit.capabilities.Gate`): an import resolver, and a way
    to hook itself into the host it serves (scheduler checks, audit of
    lifecycle events)."""

    def resolve(self, interface: str, function: str, func_type: Any) -> Callable[..., Any] | None:
        """An :data:`ImportResolver`."""
        ...

    def attach(self, host: Host) -> None:
        """Called once the host is built, before any component loads."""
        ...

    def record(self, event: str, /, **fields: Any) -> Any:
        """Write one audit record (raises ``AuditError`` if it cannot)."""
        ...


class Monitor:
    """A host-side monitor of one actor: exactly one DOWN, with the reason.

    Get one from :meth:`Host.monitor`. Monitoring a dead or unknown pid
    yields DOWN ``noproc`` at once.
    """

    __slots__ = ("_done", "_host", "_reason", "pid", "ref")

    def __init__(self, host: Host, pid: Pid) -> None:
        self._host = host
        self.pid = pid
        self._done = trio.Event()
        self._reason: ExitReason | None = None
        self.ref = 0

    def _fire(self, reason: ExitReason) -> None:
        if self._reason is None:
            self._reason = reason
            self._done.set()

    @property
    def down(self) -> ExitReason | None:
        """The DOWN reason once it arrived, else None."""
        return self._reason

    async def wait(self) -> ExitReason:
        """Wait for the DOWN and return the monitored actor's exit reason."""
        await self._done.wait()
        assert self._reason is not None
        return self._reason

    def cancel(self) -> bool:
        """Demonitor. Returns whether the monitor was still active; a DOWN
        that already arrived stays readable (``flush`` is implied for the host:
        nothing is queued anywhere)."""
        return self._host._sched.demonitor(0, self.ref, True)


class Host:
    """A running host. Get one from :func:`open_host`; do not construct it.

    All methods must be called from the Trio thread that opened the host.
    """

    def __init__(
        self,
        config: HostConfig,
        host_functions: Sequence[HostFunction],
        resolver: ImportResolver | None = None,
        capabilities: CapabilityLayer | None = None,
    ) -> None:
        if capabilities is not None:
            if resolver is not None:
                raise ValueError("pass resolver= or capabilities=, not both")
            resolver = capabilities.resolve
        self.config = config
        self.components: dict[str, CompiledComponent] = {}
        self._closed = False
        self._token = trio.lowlevel.current_trio_token()
        self._inbox: deque[Callable[[], None]] = deque()
        self._wake_pending = False
        self._post_tls = threading.local()
        self._sched = Scheduler(self, config.scheduler_threads)
        cfg = config
        self.engine = WasmEngine(
            process_api=self._sched,
            host_functions=host_functions,
            cache_dir=cfg.cache_dir,
            tick_seconds=cfg.tick_seconds,
            fuel=cfg.fuel_per_activation is not None,
            wasi=cfg.wasi,
            max_component_bytes=cfg.max_component_bytes,
            resolver=resolver,
        )
        self._exit_hooks: list[Callable[[Pid, ExitReason], None]] = []
        self._lifecycle_hooks: list[Callable[[str, Actor, str], None]] = []
        self._capabilities = capabilities
        if capabilities is not None:
            capabilities.attach(self)

    # -- plumbing from scheduler threads into Trio -------------------------------
    def _post(self, fn: Callable[[], None]) -> None:
        deferred: list[Callable[[], None]] | None = getattr(self._post_tls, "deferred", None)
        if deferred is not None:
            # On a scheduler thread: wake Trio once, after the activation is
            # done, rather than mid-activation (which makes the two threads
            # ping-pong the GIL for the rest of it).
            deferred.append(fn)
            return
        self._wake(fn)

    def _flush_deferred(self, deferred: list[Callable[[], None]]) -> None:
        """Called by a scheduler thread after each activation."""
        if deferred:
            self._inbox.extend(deferred[:-1])
            last = deferred[-1]
            deferred.clear()
            self._wake(last)

    def _wake(self, fn: Callable[[], None]) -> None:
        self._inbox.append(fn)
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._token.run_sync_soon(self._drain)
            except trio.RunFinishedError:
                self._wake_pending = False

    def _drain(self) -> None:
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            inbox.popleft()()

    def stdio_for(self, actor: Actor) -> Callable[[bytes], None] | None:
        if not actor.component.needs_wasi:
            return None
        tag = f"{actor.pid} {actor.component.name}"

        def write(data: bytes) -> None:
            for line in data.decode(errors="replace").splitlines():
                guest_log.info("[%s] %s", tag, line[:4096])

        return write

    def actor_spawned(self, actor: Actor) -> None:
        log.debug("spawned %s from %s", actor.pid, actor.component.name)
        if self._lifecycle_hooks:
            self._lifecycle("spawn", actor, "")

    def audit(self, event: str, /, **fields: Any) -> None:
        """Write an audit record through the capability gate's log, when the
        host has one (``open_host(capabilities=...)``); otherwise do nothing.
        Used for events the host cannot see itself, e.g. a supervisor's
        ``restart``.

        Raises:
            AuditError: the log refused the record.
        """
        if self._capabilities is not None:
            self._capabilities.record(event, **fields)

    def add_lifecycle_hook(self, hook: Callable[[str, Actor, str], None]) -> None:
        """Call ``hook(event, actor, detail)`` when an actor is spawned
        (``"spawn"``, after its init succeeded), exits (``"exit"``, detail the
        reason) or is killed by the host (``"kill"``). From any thread; an
        exception is logged, never propagated. For the capability gate's audit."""
        self._lifecycle_hooks.append(hook)

    def _lifecycle(self, event: str, actor: Actor, detail: str) -> None:
        for hook in self._lifecycle_hooks:
            try:
                hook(event, actor, detail)
            except Exception:
                log.exception("lifecycle hook %r failed on %s of %s", hook, event, actor.pid)

    def actor_exited(self, actor: Actor, reason: ExitReason) -> None:
        """Called once per actor, from whichever thread ended it."""
        with actor.lock:
            waiters, actor.exit_waiters = actor.exit_waiters, []
        if not reason.is_normal:
            log.info("%s (%s) exited: %s", actor.pid, actor.component.name, reason)
        pid = actor.pid
        for hook in self._exit_hooks:
            hook(pid, reason)
        if self._lifecycle_hooks:
            self._lifecycle("exit", actor, str(reason))
        for w in waiters:
            self._post(lambda w=w: w(reason))  # type: ignore[misc]

    # -- public API --------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed or self._sched.closing:
            raise HostClosedError("the host is closed; open a new one with hostkit.open_host()")

    def load(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        progress: Callable[[CompileProgress], None] | None = None,
    ) -> Component:
        """Validate and compile a component (cached on disk by digest).

        A component is compiled in a worker process bounded by
        ``compile_cpu_seconds``, ``compile_memory_bytes`` and
        ``max_compiled_bytes``. One already loaded in this host (same
        digest) or in the compile cache is not compiled again.

        Called on the Trio thread, this blocks the event loop while it
        works, so it compiles only components up to
        ``max_blocking_compile_bytes`` there and refuses bigger ones that
        need compiling (use :meth:`load_async`); it still loads any
        component that is cached or already loaded.

        Args:
            source: a path to a ``.wasm`` component, or its bytes.
            name: the name guests and :meth:`spawn` use; defaults to the file
                stem. Required for bytes.
            progress: called with a `CompileProgress` about every 0.25 s
                while a compile runs, then for the loading step.

        Raises:
            ComponentLoadError: naming the component and the problem (for
                a compile limit, which limit).
        """
        self._check_open()
        if isinstance(source, bytes | bytearray | memoryview):
            if name is None:
                raise ComponentLoadError("<bytes>", "name= is required when loading bytes")
            data = bytes(source)
        else:
            path = Path(source)
            name = name or path.stem
            try:
                size = path.stat().st_size
                if size > self.config.max_component_bytes:  # refuse it unread
                    raise ComponentLoadError(
                        name,
                        f"{size} bytes exceeds the limit of {self.config.max_component_bytes} "
                        "bytes (raise max_component_bytes if this is expected)",
                    )
                data = path.read_bytes()
            except OSError as exc:
                raise ComponentLoadError(
                    name, f"cannot read {str(path)!r}: {exc.strerror}"
                ) from None
        if not name or "\n" in name:
            raise ComponentLoadError(repr(name), "a component name must be non-empty, one line")
        existing = self.components.get(name)
        cfg = self.config
        try:
            trio.lowlevel.current_task()
            on_trio = True
        except RuntimeError:
            on_trio = False
        compiled = self.engine.compile(
            name,
            data,
            cfg.limits(),
            compile_limits=CompileLimits(
                cfg.compile_cpu_seconds, cfg.compile_memory_bytes, cfg.max_compiled_bytes
            ),
            progress=progress,
            may_compile=not on_trio or len(data) <= cfg.max_blocking_compile_bytes,
            cache_key_file=cfg.cache_key_file,
        )
        if existing is not None and existing.digest != compiled.digest:
            raise ComponentLoadError(
                name, f"a different component is already loaded under this name ({existing!r})"
            )
        self.components[name] = compiled
        if progress is not None:
            progress(CompileProgress(name, "done", 0.0, cfg.compile_cpu_seconds))
        return compiled

    async def load_async(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        progress: Callable[[CompileProgress], None] | None = None,
    ) -> Component:
        """:meth:`load` in a worker thread: the event loop keeps running while
        a component compiles. ``progress`` is called on the Trio thread."""
        report = None
        if progress is not None:
            callback = progress

            def report(event: CompileProgress) -> None:
                trio.from_thread.run_sync(callback, event)

        return await trio.to_thread.run_sync(lambda: self.load(source, name=name, progress=report))

    def _component(self, component: Component | str) -> Component:
        if isinstance(component, str):
            found = self.components.get(component)
            if found is None:
                raise SpawnError(f"no component named {component!r} is loaded")
            return found
        return component

    async def spawn(
        self, component: Component | str, init: str = "", *, name: str | None = None
    ) -> Pid:
        """Start an actor and wait until its ``init`` succeeded.

        Raises:
            SpawnError: init returned an error, trapped or ran out of budget,
                the Store limits refused the instance, or ``name`` is taken.
        """
        self._check_open()
        comp = self._component(component)
        sched = self._sched
        actor = sched.new_actor(comp, init.encode())
        if name is not None:
            error = sched.register(actor, name)
            if error is not None:
                sched._exit(actor, ExitReason("error", error))
                raise SpawnError(f"cannot spawn {comp.name!r} as {name!r}: {error}")
        done = trio.Event()
        result: list[str | None] = []

        def finished(error: str | None) -> None:
            result.append(error)
            self._post(done.set)

        actor.spawn_waiter = finished
        sched._global.put(actor)
        try:
            await done.wait()
        except BaseException:
            sched.kill(actor)
            raise
        if result[0] is not None:
            raise SpawnError(f"spawn of {comp.name!r} failed: {result[0]}")
        self.actor_spawned(actor)
        return actor.pid

    def _actor(self, pid: Pid | int) -> Actor:
        actor = self._sched.lookup(int(pid))
        if actor is None:
            raise NoProc(f"{Pid(int(pid))} is not alive")
        return actor

    def send(self, pid: Pid | int, msg: str) -> None:
        """Cast ``msg`` to ``pid`` (no reply). Returns once it is enqueued.

        Raises:
            MailboxFull: the target's mailbox is at capacity; nothing enqueued.
            MessageTooLarge: ``msg`` exceeds ``max_message_size``.
            NoProc: ``pid`` is not alive.
        """
        self._check_open()
        self._sched.send(int(pid), 0, msg.encode())

    # The timeout is part of the call protocol (like gen_server:call/3), not a
    # substitute for cancel scopes: it also bounds how long the reply slot lives.
    async def call(self, pid: Pid | int, msg: str, *, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        """Send ``msg`` as a call and wait for the reply.

        Raises:
            CallTimeout: no reply within ``timeout`` seconds.
            ActorExited: the actor exited before replying.
            MailboxFull, MessageTooLarge, NoProc: as for :meth:`send`.
        """
        self._check_open()
        done = trio.Event()
        waiter = Waiter(int(pid), on_done=lambda _w: self._post(done.set))
        ref = self._sched.start_call(int(pid), 0, msg.encode(), waiter)
        try:
            with trio.fail_after(timeout):
                await done.wait()
        except trio.TooSlowError:
            self._sched.cancel_call(ref)
            raise CallTimeout(f"no reply from {Pid(int(pid))} within {timeout} s") from None
        except BaseException:
            self._sched.cancel_call(ref)
            raise
        if waiter.error is not None:
            raise ActorExited(Pid(int(pid)), waiter.error[1] or waiter.error[0])
        assert waiter.value is not None
        return waiter.value.decode()

    def kill(self, pid: Pid | int) -> None:
        """End ``pid`` now with reason ``killed`` (untrappable). A guest
        spinning in wasm is stopped at the next epoch tick. No-op if dead."""
        actor = self._sched.lookup(int(pid))
        if actor is not None:
            if self._lifecycle_hooks:
                self._lifecycle("kill", actor, "killed by the host")
            self._sched.kill(actor)

    def stop(self, pid: Pid | int, reason: str = "shutdown") -> None:
        """Ask ``pid`` to stop: pending deliveries are dropped, its
        ``terminate`` runs, and it exits with ``reason``."""
        actor = self._sched.lookup(int(pid))
        if actor is not None:
            self._sched.request_stop(
                actor,
                ExitReason(reason) if reason in ExitReason.KINDS else ExitReason("error", reason),
            )

    async def wait(self, pid: Pid | int) -> ExitReason:
        """Wait for ``pid`` to exit and return why. Returns at once for an
        actor that already exited (within ``exit_history``).

        Raises:
            NoProc: ``pid`` never existed here (or is too old to remember).
        """
        sched = self._sched
        known = sched.exited.get(int(pid))
        if known is not None:
            return known
        actor = sched.lookup(int(pid))
        if actor is None:
            known = sched.exited.get(int(pid))
            if known is not None:
                return known
            raise NoProc(f"{Pid(int(pid))} never existed on this host")
        done = trio.Event()
        box: list[ExitReason] = []

        def on_exit(reason: ExitReason) -> None:
            box.append(reason)
            done.set()

        with actor.lock:
            if actor.state == EXITED and actor.reason is not None:
                return actor.reason
            actor.exit_waiters.append(on_exit)
        await done.wait()
        return box[0]

    def whereis(self, name: str) -> Pid | None:
        """The pid registered under ``name``, or None."""
        actor = self._sched.names.get(name)
        return actor.pid if actor is not None else None

    def register(self, pid: Pid | int, name: str) -> None:
        """Register ``pid`` under ``name``. Raises ValueError if taken."""
        error = self._sched.register(self._actor(pid), name)
        if error is not None:
            raise ValueError(error)

    def actors(self) -> list[dict[str, Any]]:
        """A snapshot of live actors (pid, component, name, state, mailbox)."""
        return [describe(a) for a in list(self._sched.actors.values())]

    # -- links, monitors, exit signals ---------------------------------------------
    def link(self, a: Pid | int, b: Pid | int) -> None:
        """Link two actors (Erlang's rules; see docs/supervision.md).

        Raises:
            NoProc: either actor is not alive.
        """
        if not self._sched.link(self._actor(a), int(b)):
            raise NoProc(f"{Pid(int(b))} is not alive")

    def unlink(self, a: Pid | int, b: Pid | int) -> None:
        """Remove the link between ``a`` and ``b``, if any."""
        actor = self._sched.lookup(int(a))
        if actor is not None:
            self._sched.unlink(actor, int(b))

    def monitor(self, pid: Pid | int) -> Monitor:
        """Monitor ``pid`` from host code; see :class:`Monitor`."""
        mon = Monitor(self, Pid(int(pid)))
        mon.ref = self._sched.monitor(0, int(pid), mon._fire)
        return mon

    def exit(self, pid: Pid | int, reason: ExitReason | str) -> None:
        """Send an exit signal, like Erlang's ``exit/2``. ``"kill"`` is
        untrappable and ends the actor as ``killed``; otherwise a trapping
        actor receives an ``e`` frame, a normal reason is ignored (except
        ``shutdown`` from the host, which stops a non-trapping actor), and any
        other reason ends the actor with it."""
        actor = self._sched.lookup(int(pid))
        if actor is None:
            return
        if reason == "kill":
            if self._lifecycle_hooks:
                self._lifecycle("kill", actor, "exit signal 'kill' from the host")
            self._sched.exit_signal(actor, 0, KILLED, untrappable=True)
            return
        if isinstance(reason, str):
            reason = (
                ExitReason(reason) if reason in ExitReason.KINDS else ExitReason("error", reason)
            )
        self._sched.exit_signal(actor, 0, reason)

    def set_trap_exit(self, pid: Pid | int, on: bool) -> bool:
        """Make ``pid`` trap exit signals (or not); returns the old setting."""
        actor = self._actor(pid)
        previous, actor.trap_exit = actor.trap_exit, on
        return previous

    def is_alive(self, pid: Pid | int) -> bool:
        return self._sched.lookup(int(pid)) is not None

    def add_exit_hook(self, hook: Callable[[Pid, ExitReason], None]) -> None:
        """Call ``hook(pid, reason)`` on every exit (from any thread)."""
        self._exit_hooks.append(hook)

    @property
    def pid(self) -> Pid:
        """The host's own pid, ``Pid(0)``: the sender of host-side messages."""
        return HOST_PID

    # -- lifecycle ---------------------------------------------------------------
    async def _start(self) -> None:
        self.engine.start()
        self._sched.start()

    async def aclose(self) -> None:
        """Stop every actor (``terminate`` first, then kill after
        ``shutdown_timeout``), then the scheduler threads and the ticker."""
        if self._closed:
            return
        sched = self._sched
        sched.closing = True
        try:
            live = list(sched.actors.values())
            for actor in live:
                if actor.state == SPAWNING:
                    sched.kill(actor, SHUTDOWN)
                else:
                    sched.request_stop(actor, SHUTDOWN)
            with trio.move_on_after(self.config.shutdown_timeout):
                for actor in live:
                    await self.wait(actor.pid)
            for actor in list(sched.actors.values()):
                sched.kill(actor, SHUTDOWN)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(sched.stop)
                await trio.to_thread.run_sync(self.engine.close)
        finally:
            self._closed = True
            self._drain()


@asynccontextmanager
async def open_host(
    config: HostConfig | None = None,
    *,
    host_functions: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
    resolver: ImportResolver | None = None,
    capabilities: CapabilityLayer | None = None,
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
            guests' sends, calls, spawns and names, and audits decisions and
            actor lifecycles. Replaces ``resolver``.

    On exit every actor is stopped and every thread joined.
    """
    from ._wasm import host_function_table

    host = Host(
        config or HostConfig(),
        host_function_table(host_functions or {}),
        resolver,
        capabilities,
    )
    await host._start()
    try:
        yield host
    finally:
        with trio.CancelScope(shield=True):
            await host.aclose()
