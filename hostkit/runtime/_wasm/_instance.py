"""One actor's sandbox: a Store with its limits and guard, one component
instance, and the three ``actor`` exports called through the C API."""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable
from ctypes import byref, string_at
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import _ffi as ffi

from ..._errors import CapabilityDenied
from . import _capi
from ._capi import noop_finalizer
from ._guard import (
    GUARDS,
    TLS,
    Abort,
    Guard,
    GuestFault,
    Pending,
    close_awaitable,
    guard_ids,
    on_epoch_deadline,
)
from ._pool import MAP_BUDGET, pool_fault

if TYPE_CHECKING:
    from ._engine import CompiledComponent, Limits, WasmEngine

__all__ = ["DONE", "SUSPENDED", "YIELDED", "Instance"]


#: Stores whose arena stack could not be mapped again to delete them
#: (out of kernel mappings): kept rather than deleted (see ``Instance.drop``).
UNDELETABLE: list[Any] = []


def _trap_summary(text: str) -> str:
    """``wasm trap: <cause> (at <innermost frame>)`` from wasmtime's report."""
    head, sep, cause = text.partition("Caused by:")
    reason = _capi.first_lines(cause, 2) if sep else _capi.first_lines(text, 2)
    frames = [ln.strip() for ln in head.splitlines() if ln.strip()[:2] == "0:"]
    where = " ".join(frames[0].split()[1:]) if frames else ""
    return f"{reason} (at {where})" if where else reason or "trap"


#: What `Instance.step` reports.
DONE, YIELDED, SUSPENDED = 0, 1, 2


class Instance:
    """One actor's sandbox: a Store with its limits, guard and exports.

    Every guest call is an *async* call (wasmtime's ``*_async`` C API): the
    call's future is polled by `step` until it is done. ``deliver`` may
    stop short of done: at the end of a slice (`YIELDED`: the epoch
    callback gave the thread back) or in a host function that suspended it
    (`SUSPENDED`: see ``_guard.Pending``). The future then stays here, and
    whichever scheduler thread takes the actor next calls `resume`. Fuel,
    the deadline and the host-call budget are armed once per call and keep
    counting across yields. ``init`` and ``terminate`` yield and suspend the
    same way when started with `begin_init` / `begin_terminate`; `init`,
    `terminate` and instantiation itself run to completion on the calling
    thread (a pending host call there blocks the thread).
    """

    __slots__ = (
        "__weakref__",
        "_ctx",
        "_deliver",
        "_deliver_ref",
        "_engine",
        "_err",
        "_err_ref",
        "_func",
        "_future",
        "_inst",
        "_last_error",
        "_params",
        "_result",
        "_result_ref",
        "component",
        "flag",
        "guard",
        "guard_id",
        "host_call_budget",
        "owner",
        "polled_on",
        "stacks",
        "store",
    )

    def __init__(
        self,
        engine: WasmEngine,
        component: CompiledComponent,
        *,
        limits: Limits,
        fuel: int,
        deadline: float,
        host_call_budget: int,
        stdio: Callable[[bytes], None] | None,
        owner: object,
        start: bool = True,
    ) -> None:
        """Build the Store and instantiate ``component`` in it, every limit
        armed first. ``start`` False: only begin instantiating (start
        functions are guest code): the caller drives it with `step` /
        `resume` like any call, then calls `finish_build`."""
        self._engine = engine
        self.component = component
        self.owner = owner
        self.host_call_budget = host_call_budget
        self._future: int | None = None
        self._func: Any = None
        self._err = ctypes.c_void_p()
        self._err_ref = byref(self._err)
        self._last_error = ""
        # the continuation flag of suspending host calls (see _capi.flag_continuation)
        self.flag = (ctypes.c_uint8 * 2)()
        self.polled_on = 0  # the thread that last ran a call (set by the scheduler)
        self.stacks: list[int] = []  # the arena's fiber stacks of this Store (see _arena)
        refused = MAP_BUDGET.check()
        if refused is not None:
            raise GuestFault("limit", refused)
        self.guard = Guard()
        self.guard_id = next(guard_ids)
        GUARDS[self.guard_id] = self.guard
        store = wasmtime.Store(engine.engine)
        self.store: Any = store
        memories, memory_bytes, tables, table_elements = limits.shares(component.layout)
        _capi.store_limiter(
            store.ptr(), memory_bytes, table_elements, limits.instances, tables, memories
        )
        ffi.wasmtime_store_epoch_deadline_callback(
            store.ptr(), on_epoch_deadline, self.guard_id, noop_finalizer
        )
        if component.needs_wasi:
            store.set_wasi(_sandbox_wasi(stdio))
        self._ctx = store._context()
        self._params = (_capi.Val * 1)()
        self._result = _capi.Val()
        self._result_ref = byref(self._result)
        self._inst: Any = ffi.wasmtime_component_instance_t()
        self._arm(fuel, deadline)
        linker = engine.linker  # kept alive until the future is deleted
        self._func = linker
        self._deliver: Any = None
        self._deliver_ref: Any = None
        self._future = _capi.instantiate_async(
            linker.ptr(), self._ctx, component.raw.ptr(), byref(self._inst), byref(self._err)
        )
        if not start:
            self.guard.suspendable = True  # yields at slices, may suspend
            return
        try:
            self._run_blocking()
        except GuestFault:
            pin = self._stack_pinner()
            if pin is not None:
                pin()
            GUARDS.pop(self.guard_id, None)
            full = self.limit_reached()
            if full is not None:
                raise GuestFault("limit", full) from None
            raise
        self.finish_build()

    def finish_build(self) -> None:
        """Instantiation returned (`step` said `DONE`): the instance is ready."""
        self._deliver = self._lookup(self.component._deliver_idx)
        self._deliver_ref = byref(self._deliver)  # built once: the hot path

    def limit_reached(self) -> str | None:
        """If instantiating failed for want of pool slots, kernel mappings or
        the arena's address space, what ran out, clearly; else None."""
        return pool_fault(self._last_error) if self._last_error else None

    def _arm(self, fuel: int, deadline: float) -> None:
        guard = self.guard
        guard.deadline = deadline
        guard.host_calls = 0
        guard.pending = None
        guard.run = None
        if self._engine.fuel_enabled:
            _capi.set_fuel(self._ctx, fuel)
        _capi.set_deadline(self._ctx, 1)

    @property
    def in_flight(self) -> bool:
        """Whether a guest call was started and is not finished."""
        return self._future is not None

    def drop(self, *, later: bool = False) -> Callable[[], None] | None:
        """Release the Store. The instance is never entered again: a call
        still in flight is dropped without being resumed (its pending host
        call, if any, is cancelled).

        With the arena, wasmtime touches the Store's fiber stack while it
        deletes the Store, so the stack is mapped again first (see
        ``Arena.pin``). ``later``: the caller deletes the Store elsewhere
        (the reaper) and gets the callable that does that, to run just
        before; else it is done here. If the stack cannot be mapped (out of
        kernel mappings), the Store is kept for the life of the process
        rather than deleted."""
        self.abandon()
        pin = self._stack_pinner()
        if pin is not None and not later:
            pin()
            pin = None
        GUARDS.pop(self.guard_id, None)
        self._deliver = self._deliver_ref = None
        self._inst = None
        self.store = None
        return pin

    def _stack_pinner(self) -> Callable[[], None] | None:
        arena = self._engine.arena
        if arena is None or not self.stacks:
            return None
        token, slots, store = self.guard_id, self.stacks, self.store
        self.stacks = []

        def pin() -> None:
            if not arena.pin(token, slots):
                UNDELETABLE.append(store)

        return pin

    def kill(self) -> None:
        self.guard.killed = True

    # -- calls -----------------------------------------------------------------
    def _start(self, func: Any, arg: bytes, fuel: int, deadline: float, want: bool) -> None:
        if self.store is None:
            raise GuestFault("killed", "instance already dropped")
        if self._future is not None:
            raise RuntimeError("a guest call is already in flight on this instance")
        arena = self._engine.arena
        if arena is not None and self.stacks and not arena.enter(self.guard_id, self.stacks):
            raise GuestFault(
                "limit", "could not map the instance's fiber stack (see vm.max_map_count)"
            )
        self._arm(fuel, deadline)
        p0 = self._params[0]
        p0.kind = _capi.K_STRING
        _capi.bytevec_new(byref(p0.of.string), len(arg), arg)
        self._err.value = None
        self._func = func
        self._future = _capi.func_call_async(
            self._deliver_ref if func is self._deliver else byref(func),
            self._ctx,
            self._params,
            1,
            self._result_ref if want else None,
            1 if want else 0,
            self._err_ref,
        )

    def step(self) -> int:
        """Poll the call in flight: `DONE`, `YIELDED` or `SUSPENDED`.

        Raises:
            GuestFault: the call trapped, or was ended (killed, deadline,
                budget, a host function failed); the call is dropped.
        """
        guard = self.guard
        future = self._future
        assert future is not None
        slice_s = self._engine.slice_seconds if guard.suspendable else math.inf
        prev = getattr(TLS, "inst", None)
        TLS.inst = self  # on every poll: the call may resume on another thread
        try:
            pending = guard.pending
            if pending is not None and pending.done:
                self._complete(pending)  # resumed after a suspension
            while True:
                guard.slice_end = time.monotonic() + slice_s
                if _capi.future_poll(future):
                    break
                if guard.abort is not None or guard.host_exc is not None or guard.killed:
                    self.abandon()
                    raise self._fault_from_text("")
                run = guard.run
                if run is not None:  # a host function: run it here, off the fiber
                    guard.run = None
                    try:
                        waits_on = run()
                    except Abort:
                        waits_on = None  # the reason is on the guard: ends below
                    except BaseException as exc:  # mapped like a failing sync import
                        if guard.host_exc is None:
                            guard.host_exc = exc
                        waits_on = None
                    if guard.abort is not None or guard.host_exc is not None:
                        self.abandon()
                        raise self._fault_from_text("")
                    if waits_on is None:  # results written: resume at once
                        self.flag[0] = 1
                        continue
                    guard.pending = waits_on
                pending = guard.pending
                if pending is None:
                    return YIELDED
                if not pending.done:
                    return SUSPENDED
                self._complete(pending)  # resolved already (a quick reply)
        finally:
            TLS.inst = prev
        self._future = None
        _capi.future_delete(future)
        if self.stacks:
            self._leave()
        self._func = None
        _capi.val_delete(byref(self._params[0]))
        err = self._err.value
        if err:
            self._err.value = None
            text = _capi.error_text(err)
            self._last_error = text
            raise self._fault_from_text(text)
        if guard.abort is not None:  # e.g. killed just as it returned
            raise self._fault_from_text("")
        return DONE

    def _complete(self, pending: Pending) -> None:
        """Write a resolved pending value into the suspended host call's
        results (on this thread's stack) and let the guest go on; a failed
        one drops the call, with the exit reason a failing sync import gets.

        Raises:
            GuestFault: the pending value failed, or cannot be lowered.
        """
        guard = self.guard
        guard.pending = None
        error = pending.error
        if error is None:
            try:
                pending.finish(pending.value)
            except BaseException as exc:  # e.g. a value its WIT type cannot hold
                error = exc
        if error is not None:
            if guard.host_exc is None and guard.abort is None:
                guard.host_exc = error
            self.abandon()
            raise self._fault_from_text("")
        self.flag[0] = 1

    def resume(self) -> int:
        """Resume the call in flight (on any thread), unless it must end:
        killed or past its deadline, it is dropped without running again.
        A suspended call whose pending value is not there yet stays
        suspended, unless its ``due`` time has come (a ``process.call``
        timeout then resolves it)."""
        guard = self.guard
        now = time.monotonic()
        if guard.killed:
            guard.abort = guard.abort or ("killed", "killed while suspended")
        elif now >= guard.deadline:  # (a suspended call is woken at its deadline)
            guard.abort = guard.abort or ("deadline", "activation ran past its deadline")
        if guard.abort is not None or guard.host_exc is not None:
            self.abandon()
            raise self._fault_from_text("")
        pending = guard.pending
        if pending is not None and not pending.done:
            if now < pending.due or pending.on_timeout is None:
                return SUSPENDED
            pending.on_timeout()
        return self.step()

    def abandon(self) -> None:
        """Drop the call in flight, if any, without resuming it."""
        future = self._future
        if future is None:
            return
        self._future = None
        self.guard.run = None
        pending, self.guard.pending = self.guard.pending, None
        if pending is not None:
            pending.discard()
        prev = getattr(TLS, "inst", None)
        TLS.inst = self
        try:
            _capi.future_delete(future)  # unwinds the suspended guest; runs none of it
        finally:
            TLS.inst = prev
        if self.stacks:
            self._leave()
        self._func = None
        _capi.val_delete(byref(self._params[0]))
        err = self._err.value
        if err:
            self._err.value = None
            _capi.error_delete(err)

    def _leave(self) -> None:
        arena = self._engine.arena
        if arena is not None:
            arena.leave(self.guard_id, self.stacks)

    def _run_blocking(self) -> None:
        """Poll the call in flight to completion on this thread."""
        self.guard.suspendable = False
        while True:
            state = self.step()
            if state == DONE:
                return
            if state == SUSPENDED:
                pending = self.guard.pending
                assert pending is not None
                self._engine.suspender.block(self, pending)

    def suspend_on(self, awaitable: Any, label: str, finish: Callable[[Any], None]) -> Pending:
        """A host function returned ``awaitable``: the `Pending` the guest's
        call waits on (``finish(value)`` lowers the value into its results).
        Counts against the host's cap on pending async host calls."""
        guard = self.guard
        slots = self._engine.pending_slots
        if not slots.acquire():
            close_awaitable(awaitable)
            guard.abort = (
                "limit",
                f"{label} would be the host's pending async host call number "
                f"{slots.cap + 1}; HostConfig.max_pending_host_calls is {slots.cap}",
            )
            raise Abort
        pending = Pending(label, finish, guard.deadline)
        pending.awaitable = awaitable
        pending.slot = slots
        return pending

    def begin_deliver(self, batch: bytes, fuel: int, deadline: float) -> None:
        """Start ``deliver(batch)``; drive it with `step` / `resume`."""
        self._start(self._deliver, batch, fuel, deadline, True)
        self.guard.suspendable = True

    def take_outbox(self) -> bytes:
        """The finished ``deliver``'s result (after `step` returned `DONE`)."""
        res = self._result
        s = res.of.string
        out = string_at(s.data, s.size) if s.size else b""
        _capi.val_delete(byref(res))
        return out

    def deliver(self, batch: bytes, fuel: int, deadline: float) -> bytes:
        """``deliver(batch)`` to completion on this thread (no yields)."""
        self._start(self._deliver, batch, fuel, deadline, True)
        self._run_blocking()
        return self.take_outbox()

    def _call(self, func: Any, arg: bytes, fuel: int, deadline: float, want: bool) -> Any:
        self._start(func, arg, fuel, deadline, want)
        self._run_blocking()
        return self._result if want else None

    def init(self, args: bytes, fuel: int, deadline: float) -> str | None:
        """Run ``init`` to completion on this thread (no yields); returns
        the guest's error string, or None on success."""
        func = self._lookup(self.component._init_idx)
        self._call(func, args, fuel, deadline, True)
        return self.take_init_result()

    def begin_init(self, args: bytes, fuel: int, deadline: float) -> None:
        """Start ``init(args)``; drive it with `step` / `resume` (it yields
        at slices and suspends in host functions like ``deliver``), then
        `take_init_result`."""
        self._start(self._lookup(self.component._init_idx), args, fuel, deadline, True)
        self.guard.suspendable = True

    def take_init_result(self) -> str | None:
        """The finished ``init``'s error string, or None on success."""
        res = self._result
        try:
            if res.of.result.is_ok:
                return None
            ptr = res.of.result.val
            return _capi.read_str(ptr.contents).decode(errors="replace") if ptr else "init failed"
        finally:
            _capi.val_delete(byref(res))

    def terminate(self, reason: str, fuel: int, deadline: float) -> None:
        """Run ``terminate(reason)`` to completion on this thread (no yields)."""
        func = self._lookup(self.component._terminate_idx)
        self._call(func, reason.encode(), fuel, deadline, False)

    def begin_terminate(self, reason: str, fuel: int, deadline: float) -> None:
        """Start ``terminate(reason)``; drive it with `step` / `resume`."""
        func = self._lookup(self.component._terminate_idx)
        self._start(func, reason.encode(), fuel, deadline, False)
        self.guard.suspendable = True

    def _lookup(self, index: Any) -> Any:
        if self.store is None:
            raise GuestFault("killed", "instance already dropped")
        raw = ffi.wasmtime_component_func_t()
        if not _capi.instance_get_func(byref(self._inst), self._ctx, index.ptr(), byref(raw)):
            raise GuestFault("trap", "export vanished")  # validated at load
        return raw

    def _fault_from_text(self, text: str) -> GuestFault:
        guard = self.guard
        if guard.abort is not None:
            kind, detail = guard.abort
            return GuestFault(kind, detail)
        if guard.host_exc is not None:
            exc = guard.host_exc
            if isinstance(exc, CapabilityDenied):  # a denial the WIT type cannot express
                return GuestFault("denied", str(exc), exc)
            return GuestFault("host-error", f"host function raised {exc!r}", exc)
        if guard.killed:
            return GuestFault("killed", "killed")
        if "all fuel consumed" in text or "out of fuel" in text:
            return GuestFault("fuel", "activation ran out of fuel")
        return GuestFault("trap", _trap_summary(text))


def _sandbox_wasi(stdio: Callable[[bytes], None] | None) -> Any:
    """WASI with nothing in it: no args, env, preopens, stdin or network.
    stdout/stderr go to ``stdio`` (the host log, tagged with the actor)."""
    cfg = wasmtime.WasiConfig()
    if stdio is not None:
        cfg.stdout_custom = stdio  # a setter property in wasmtime-py, not a method
        cfg.stderr_custom = stdio
    return cfg
