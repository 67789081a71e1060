"""One actor's sandbox: a Store with its limits and guard, one component
instance, and the three ``actor`` exports called through the C API."""

from __future__ import annotations

from collections.abc import Callable
from ctypes import byref, string_at
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import _ffi as ffi

from ..._errors import CapabilityDenied
from . import _capi
from ._capi import noop_finalizer
from ._guard import GUARDS, TLS, Guard, GuestFault, guard_ids, on_epoch_deadline
from ._pool import MAP_BUDGET, pool_fault

if TYPE_CHECKING:
    from ._engine import CompiledComponent, Limits, WasmEngine

__all__ = ["Instance"]


def _trap_summary(text: str) -> str:
    """``wasm trap: <cause> (at <innermost frame>)`` from wasmtime's report."""
    head, sep, cause = text.partition("Caused by:")
    reason = _capi.first_lines(cause, 2) if sep else _capi.first_lines(text, 2)
    frames = [ln.strip() for ln in head.splitlines() if ln.strip()[:2] == "0:"]
    where = " ".join(frames[0].split()[1:]) if frames else ""
    return f"{reason} (at {where})" if where else reason or "trap"


class Instance:
    """One actor's sandbox: a Store with its limits, guard and exports."""

    __slots__ = (
        "__weakref__",
        "_ctx",
        "_deliver",
        "_engine",
        "_inst",
        "_params",
        "_result",
        "component",
        "guard",
        "guard_id",
        "host_call_budget",
        "owner",
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
    ) -> None:
        self._engine = engine
        self.component = component
        self.owner = owner
        self.host_call_budget = host_call_budget
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
        self._arm(fuel, deadline)
        prev = getattr(TLS, "inst", None)
        TLS.inst = self
        try:
            inst = engine.linker.instantiate(store, component.raw)
        except wasmtime.WasmtimeError as exc:
            GUARDS.pop(self.guard_id, None)
            full = pool_fault(str(exc))
            if full is not None:
                raise GuestFault("limit", full) from None
            raise self._fault_from_text(str(exc)) from None
        finally:
            TLS.inst = prev
        self._inst = inst._instance
        self._deliver = self._lookup(component._deliver_idx)

    def _arm(self, fuel: int, deadline: float) -> None:
        guard = self.guard
        guard.deadline = deadline
        guard.host_calls = 0
        if self._engine.fuel_enabled:
            _capi.set_fuel(self._ctx, fuel)
        _capi.set_deadline(self._ctx, 1)

    def drop(self) -> None:
        """Release the Store. The instance is never entered again."""
        GUARDS.pop(self.guard_id, None)
        self._deliver = None
        self._inst = None
        self.store = None

    def kill(self) -> None:
        self.guard.killed = True

    # -- calls -----------------------------------------------------------------
    def _call(self, func: Any, arg: bytes, fuel: int, deadline: float, want: bool) -> Any:
        if self.store is None:
            raise GuestFault("killed", "instance already dropped")
        self._arm(fuel, deadline)
        params = self._params
        p0 = params[0]
        p0.kind = _capi.K_STRING
        _capi.bytevec_new(byref(p0.of.string), len(arg), arg)
        res = self._result
        prev = getattr(TLS, "inst", None)
        TLS.inst = self
        try:
            err = _capi.func_call(
                byref(func), self._ctx, params, 1, byref(res) if want else None, 1 if want else 0
            )
        finally:
            TLS.inst = prev
            _capi.val_delete(byref(p0))
        if err:
            raise self._fault_from_text(_capi.error_text(err))
        if self.guard.abort is not None:  # e.g. killed just as it returned
            raise self._fault_from_text("")
        if not want:
            return None
        return res

    def deliver(self, batch: bytes, fuel: int, deadline: float) -> bytes:
        res = self._call(self._deliver, batch, fuel, deadline, True)
        s = res.of.string
        out = string_at(s.data, s.size) if s.size else b""
        _capi.val_delete(byref(res))
        return out

    def init(self, args: bytes, fuel: int, deadline: float) -> str | None:
        """Run ``init``; returns the guest's error string, or None on success."""
        func = self._lookup(self.component._init_idx)
        res = self._call(func, args, fuel, deadline, True)
        try:
            if res.of.result.is_ok:
                return None
            ptr = res.of.result.val
            return _capi.read_str(ptr.contents).decode(errors="replace") if ptr else "init failed"
        finally:
            _capi.val_delete(byref(res))

    def terminate(self, reason: str, fuel: int, deadline: float) -> None:
        func = self._lookup(self.component._terminate_idx)
        self._call(func, reason.encode(), fuel, deadline, False)

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
