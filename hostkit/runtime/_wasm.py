"""The only module of hostkit that imports wasmtime.

It owns the Engine (epoch interruption + fuel), the ticker thread, compiling
(validation first, then an on-disk cache), the Linker with hostkit's own
imports, and the per-actor :class:`Instance`: one Store, one component
instance, the guard that decides per epoch tick whether the guest may go on.

Calls go through wasmtime's C API directly (via wasmtime-py's ctypes
bindings) rather than wasmtime-py's public ``Func.__call__``: the public path
re-reads the function type and converts every value in Python (~10-14 us per
call here); the direct path costs ~3 us. Every host import is a raw C
callback that catches *everything*: no Python exception ever reaches wasmtime
(wasmtime-py keeps the last one in a module global, which races between
threads; see DESIGN §3). A failing host function stashes its exception on the
instance's guard and returns a plain wasmtime error; the caller re-raises it
after the call has unwound.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from ctypes import byref, string_at
from dataclasses import dataclass
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any, Final, Protocol

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from .._errors import CapabilityDenied, ComponentLoadError
from ._wasm_values import _PLANS, _func_plan
from ._wittypes import WitFunc, WitType

__all__ = [
    "WASMTIME_VERSION",
    "CompiledComponent",
    "GuestFault",
    "Guard",
    "HostFunction",
    "ImportRefused",
    "Instance",
    "ProcessApi",
    "WasmEngine",
    "WitRecordValue",
    "WitVariant",
    "describe_func",
]

WASMTIME_VERSION: Final = _version("wasmtime")
PLUGIN_PACKAGE: Final = "hostkit:plugin"
PLUGIN_VERSION: Final = "0.1.0"
ACTOR_IFACE: Final = f"{PLUGIN_PACKAGE}/actor@{PLUGIN_VERSION}"
PROCESS_IFACE: Final = f"{PLUGIN_PACKAGE}/process@{PLUGIN_VERSION}"
TYPES_IFACE: Final = f"{PLUGIN_PACKAGE}/types@{PLUGIN_VERSION}"

_COMPONENT_MAGIC: Final = b"\0asm"
_COMPONENT_LAYER: Final = b"\x01\x00"
_CACHE_MAGIC: Final = b"HKCWASM1"

# -- raw C entry points, with our own prototypes (never mutate wasmtime-py's) --
_dll = ffi.dll


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = _dll[name]  # indexing makes a fresh function object
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_VP = ctypes.c_void_p
_func_call = _proto(
    "wasmtime_component_func_call", _VP, _VP, _VP, _VP, ctypes.c_size_t, _VP, ctypes.c_size_t
)
_set_fuel = _proto("wasmtime_context_set_fuel", _VP, _VP, ctypes.c_uint64)
_set_deadline = _proto("wasmtime_context_set_epoch_deadline", None, _VP, ctypes.c_uint64)
_bytevec_new = _proto("wasm_byte_vec_new", None, _VP, ctypes.c_size_t, ctypes.c_char_p)
_val_delete = _proto("wasmtime_component_val_delete", None, _VP)
_val_new = _proto("wasmtime_component_val_new", _VP, _VP)
_error_new = _proto("wasmtime_error_new", _VP, ctypes.c_char_p)
_error_delete = _proto("wasmtime_error_delete", None, _VP)
_error_message = _proto("wasmtime_error_message", None, _VP, _VP)
_bytevec_delete = _proto("wasm_byte_vec_delete", None, _VP)
_instance_get_func = _proto(
    "wasmtime_component_instance_get_func", ctypes.c_bool, _VP, _VP, _VP, _VP
)

_Val = ffi.wasmtime_component_val_t
_K_BOOL, _K_U32, _K_U64, _K_STRING = 0, 6, 8, 12
_K_VARIANT, _K_ENUM, _K_OPTION, _K_RESULT = 16, 17, 18, 19

_DeadlineCb = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class GuestFault(Exception):
    """A guest call failed. ``kind`` is an :class:`ExitReason` kind (trap,
    fuel, deadline, killed, budget, host-error); ``detail`` is the text.
    Internal: the scheduler turns it into the actor's exit reason."""

    def __init__(self, kind: str, detail: str, cause: BaseException | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.cause = cause


class Guard:
    """Per-instance budget state, read by the epoch callback on every tick and
    by every host import. Written by the scheduler (arm) and by ``kill``."""

    __slots__ = ("abort", "deadline", "host_calls", "host_exc", "killed")

    def __init__(self) -> None:
        self.killed = False
        self.deadline = 0.0
        self.host_calls = 0
        self.abort: tuple[str, str] | None = None
        self.host_exc: BaseException | None = None


_GUARDS: dict[int, Guard] = {}
_guard_ids = itertools.count(1)


def _trap_error(message: str) -> int:
    ptr: int = _error_new(message.encode())
    return ptr


@_DeadlineCb  # type: ignore[untyped-decorator]
def _on_epoch_deadline(ctx: Any, data: Any, delta: Any, kind: Any) -> int:
    # Runs inside wasm on the executing thread, once per ticker tick.
    try:
        guard = _GUARDS.get(data or 0)
        if guard is None:
            return _trap_error("hostkit: instance is gone")
        if guard.killed:
            guard.abort = ("killed", "killed while running")
            return _trap_error("hostkit: killed")
        if time.monotonic() > guard.deadline:
            guard.abort = ("deadline", "activation ran past its deadline")
            return _trap_error("hostkit: deadline exceeded")
        delta[0] = 1
        kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
        return 0
    except BaseException as exc:  # never let anything unwind into wasmtime
        return _trap_error(f"hostkit: epoch callback failed: {exc!r}")


@_Finalizer  # type: ignore[untyped-decorator]
def _noop_finalizer(data: Any) -> None:
    return None


# -------------------------------------------------------------------------
# value helpers for raw host callbacks
# -------------------------------------------------------------------------


def _read_str(val: Any) -> bytes:
    s = val.of.string
    return string_at(s.data, s.size) if s.size else b""


def _put_str(val: Any, data: bytes) -> None:
    val.kind = _K_STRING
    _bytevec_new(byref(val.of.string), len(data), data)


def _put_name(vec: Any, name: bytes) -> None:
    _bytevec_new(byref(vec), len(name), name)


def _boxed(fill: Callable[[Any], None]) -> Any:
    tmp = _Val()
    fill(tmp)
    return ctypes.cast(_val_new(byref(tmp)), ctypes.POINTER(_Val))


def _put_result(val: Any, ok: bool, fill: Callable[[Any], None] | None) -> None:
    val.kind = _K_RESULT
    val.of.result.is_ok = ok
    val.of.result.val = _boxed(fill) if fill is not None else None


def _put_u64(val: Any, v: int) -> None:
    val.kind = _K_U64
    val.of.u64 = v


def _put_enum(val: Any, case: bytes) -> None:
    val.kind = _K_ENUM
    _put_name(val.of.enumeration, case)


def _put_variant(val: Any, case: bytes, fill: Callable[[Any], None] | None) -> None:
    val.kind = _K_VARIANT
    _put_name(val.of.variant.discriminant, case)
    val.of.variant.val = _boxed(fill) if fill is not None else None


class ProcessApi(Protocol):
    """What the ``process`` imports call into; implemented by the scheduler.

    Each method receives the calling :class:`Instance` first. Results use the
    WIT shapes: ``None`` for ok-unit, a ``str`` error case name, etc.
    """

    def proc_self(self, inst: Instance) -> int: ...

    def proc_spawn(self, inst: Instance, component: str, args: bytes) -> tuple[bool, int | str]: ...

    def proc_send(self, inst: Instance, to: int, payload: bytes) -> str | None: ...

    def proc_call(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int
    ) -> tuple[bool, bytes | tuple[str, str | None]]: ...

    def proc_register(self, inst: Instance, name: str) -> str | None: ...

    def proc_whereis(self, inst: Instance, name: str) -> int | None: ...

    def proc_log(self, inst: Instance, level: str, message: str) -> None: ...

    def proc_link(self, inst: Instance, other: int) -> str | None: ...

    def proc_unlink(self, inst: Instance, other: int) -> None: ...

    def proc_monitor(self, inst: Instance, target: int) -> int: ...

    def proc_demonitor(self, inst: Instance, ref: int, flush: bool) -> bool: ...

    def proc_trap_exits(self, inst: Instance, on: bool) -> bool: ...


@dataclass(frozen=True)
class HostFunction:
    """A Python implementation of one imported WIT function.

    ``interface`` is the full interface name as the component imports it
    (``"acme:game/world@1.0.0"``), ``name`` the function (``"spawn-monster"``).
    ``impl(inst, *args)`` receives wasmtime-py's Python values for the
    arguments and returns the result value in the same representation.
    """

    interface: str
    name: str
    impl: Callable[..., Any]


#: Resolves an import a component needs: ``(interface, function, func_type)``
#: -> ``impl(instance, *args)`` or None. Called once per new (interface,
#: function) at load; the capability gate implements it with pluggy hooks.
#: ``func_type`` is wasmtime's; :func:`describe_func` turns it into plain data.
ImportResolver = Callable[[str, str, Any], Callable[..., Any] | None]


class ImportRefused(Exception):
    """Raised by an :data:`ImportResolver`: the host knows the import but
    cannot bind it (no provider, mismatched types). The message says why and
    becomes part of the load error naming the import."""


#: wasmtime-py's value of a *tagged* variant-like type: ``WitVariant(tag, payload)``.
WitVariant: Final[Any] = wc.Variant
#: wasmtime-py's record value: set one attribute per field, named as in the WIT.
WitRecordValue: Final[Any] = wc.Record

_PRIMITIVES: Final[dict[type, str]] = {
    wc.Bool: "bool",
    wc.S8: "s8",
    wc.S16: "s16",
    wc.S32: "s32",
    wc.S64: "s64",
    wc.U8: "u8",
    wc.U16: "u16",
    wc.U32: "u32",
    wc.U64: "u64",
    wc.F32: "f32",
    wc.F64: "f64",
    wc.Char: "char",
    wc.String: "string",
}


def describe_func(func_type: Any) -> WitFunc:
    """A wasmtime component function type as plain data (see ``_wittypes``)."""
    result = func_type.result
    return WitFunc(
        tuple((name, _describe(ty)) for name, ty in func_type.params),
        None if result is None else _describe(result),
    )


def _describe(ty: Any) -> WitType:
    kind = _PRIMITIVES.get(type(ty))
    if kind is not None:
        return WitType(kind)
    if isinstance(ty, wc.ListType):
        return WitType("list", items=(_describe(ty.element),))
    if isinstance(ty, wc.TupleType):
        return WitType("tuple", items=tuple(_describe(t) for t in ty.elements))
    if isinstance(ty, wc.RecordType):
        return WitType("record", fields=tuple((n, _describe(t)) for n, t in ty.fields))
    if isinstance(ty, wc.EnumType):
        return WitType("enum", names=tuple(ty.names))
    if isinstance(ty, wc.FlagsType):
        return WitType("flags", names=tuple(ty.names))
    if isinstance(ty, wc.VariantType | wc.OptionType | wc.ResultType):
        kind = (
            "variant"
            if isinstance(ty, wc.VariantType)
            else "option"
            if isinstance(ty, wc.OptionType)
            else "result"
        )
        cases = tuple((n, None if t is None else _describe(t)) for n, t in ty._cases())
        return WitType(kind, cases=cases, tagged=bool(ty._tagged()))
    return WitType("other")


# Dispatch tables for raw callbacks: the callback's data pointer indexes here.
_HOST_FUNCS: dict[int, tuple[Callable[..., Any], WasmEngine]] = {}
_host_func_ids = itertools.count(1)
_TLS = threading.local()


def current_instance() -> Instance:
    """The instance whose guest code is executing on this thread."""
    inst: Instance = _TLS.inst
    return inst


def _enter_host_call(data: int) -> tuple[Instance, Guard]:
    inst: Instance = _TLS.inst
    guard = inst.guard
    guard.host_calls += 1
    if guard.killed:
        guard.abort = ("killed", "killed while in a host call")
        raise _Abort
    if guard.host_calls > inst.host_call_budget:
        guard.abort = (
            "budget",
            f"more than {inst.host_call_budget} host calls in one activation",
        )
        raise _Abort
    return inst, guard


class _Abort(Exception):
    """Internal: end the current guest call; the reason is on the guard."""


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _generic_host_call(
    data: Any, ctx: Any, ty_raw: Any, args: Any, nargs: int, results: Any, nresults: int
) -> int:
    try:
        inst, guard = _enter_host_call(data)
        fid = data or 0
        impl, _engine = _HOST_FUNCS[fid]
        plan = _PLANS.get(fid)
        if plan is None:  # first call: one function, one type, for the engine's life
            plan = _PLANS[fid] = _func_plan(wc.FuncType._from_ptr(ty_raw, owner=inst))
        lifts, lower = plan
        result = impl(inst, *[lift(args[i]) for i, lift in enumerate(lifts[:nargs])])
        if lower is not None:
            lower(inst.store, result, results)
        return 0
    except _Abort:
        return _trap_error("hostkit: host call aborted")
    except BaseException as exc:  # stash, never unwind into wasmtime
        try:
            guard = _TLS.inst.guard
            if guard.host_exc is None:
                guard.host_exc = exc
        except AttributeError:
            pass
        return _trap_error(f"hostkit: host function raised {type(exc).__name__}")


def _raw_callback(body: Callable[[Instance, Any, Any], None]) -> Any:
    """Wrap a fast-path ``process`` import body in the exception firewall."""

    @ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
    def cb(data: Any, ctx: Any, ty_raw: Any, args: Any, nargs: int, results: Any, n: int) -> int:
        try:
            inst, _guard = _enter_host_call(data)
            body(inst, args, results)
            return 0
        except _Abort:
            return _trap_error("hostkit: host call aborted")
        except BaseException as exc:
            try:
                guard = _TLS.inst.guard
                if guard.host_exc is None:
                    guard.host_exc = exc
            except AttributeError:
                pass
            return _trap_error(f"hostkit: host function raised {type(exc).__name__}")

    return cb


def _process_callbacks(api_ref: Callable[[], ProcessApi]) -> dict[str, Any]:
    """The ``process`` interface as raw callbacks (hand-written conversions)."""

    def self_(inst: Instance, args: Any, res: Any) -> None:
        _put_u64(res[0], api_ref().proc_self(inst))

    def spawn(inst: Instance, args: Any, res: Any) -> None:
        comp = _read_str(args[0]).decode()
        init = _read_str(args[1])
        ok, value = api_ref().proc_spawn(inst, comp, init)
        if ok:
            _put_result(res[0], True, lambda v: _put_u64(v, int(value)))
        else:
            _put_result(res[0], False, lambda v: _put_str(v, str(value).encode()))

    def send(inst: Instance, args: Any, res: Any) -> None:
        err = api_ref().proc_send(inst, args[0].of.u64, _read_str(args[1]))
        if err is None:
            _put_result(res[0], True, None)
        else:
            _put_result(res[0], False, lambda v: _put_enum(v, err.encode()))

    def call(inst: Instance, args: Any, res: Any) -> None:
        ok, value = api_ref().proc_call(inst, args[0].of.u64, _read_str(args[1]), args[2].of.u32)
        if ok:
            assert isinstance(value, bytes)
            _put_result(res[0], True, lambda v: _put_str(v, value))
            return
        assert isinstance(value, tuple)
        case, extra = value

        def fill_err(v: Any) -> None:
            if case == "send":
                _put_variant(v, b"send", lambda e: _put_enum(e, (extra or "").encode()))
            elif case == "exited":
                _put_variant(v, b"exited", lambda e: _put_str(e, (extra or "").encode()))
            else:
                _put_variant(v, case.encode(), None)

        _put_result(res[0], False, fill_err)

    def register(inst: Instance, args: Any, res: Any) -> None:
        err = api_ref().proc_register(inst, _read_str(args[0]).decode())
        if err is None:
            _put_result(res[0], True, None)
        else:
            _put_result(res[0], False, lambda v: _put_str(v, err.encode()))

    def whereis(inst: Instance, args: Any, res: Any) -> None:
        pid = api_ref().proc_whereis(inst, _read_str(args[0]).decode())
        res[0].kind = _K_OPTION
        res[0].of.option = _boxed(lambda v: _put_u64(v, pid)) if pid is not None else None

    def now(inst: Instance, args: Any, res: Any) -> None:
        _put_u64(res[0], time.monotonic_ns())

    def log(inst: Instance, args: Any, res: Any) -> None:
        en = args[0].of.enumeration
        level = string_at(en.data, en.size).decode()
        api_ref().proc_log(inst, level, _read_str(args[1]).decode(errors="replace"))

    def link(inst: Instance, args: Any, res: Any) -> None:
        err = api_ref().proc_link(inst, args[0].of.u64)
        if err is None:
            _put_result(res[0], True, None)
        else:
            _put_result(res[0], False, lambda v: _put_enum(v, err.encode()))

    def unlink(inst: Instance, args: Any, res: Any) -> None:
        api_ref().proc_unlink(inst, args[0].of.u64)

    def monitor(inst: Instance, args: Any, res: Any) -> None:
        _put_u64(res[0], api_ref().proc_monitor(inst, args[0].of.u64))

    def demonitor(inst: Instance, args: Any, res: Any) -> None:
        res[0].kind = _K_BOOL
        res[0].of.boolean = api_ref().proc_demonitor(inst, args[0].of.u64, args[1].of.boolean)

    def trap_exits(inst: Instance, args: Any, res: Any) -> None:
        res[0].kind = _K_BOOL
        res[0].of.boolean = api_ref().proc_trap_exits(inst, args[0].of.boolean)

    bodies = {
        "link": link,
        "unlink": unlink,
        "monitor": monitor,
        "demonitor": demonitor,
        "trap-exits": trap_exits,
        "self": self_,
        "spawn": spawn,
        "send": send,
        "call": call,
        "register": register,
        "whereis": whereis,
        "now": now,
        "log": log,
    }
    return {name: _raw_callback(body) for name, body in bodies.items()}


PROCESS_FUNCTIONS: Final = frozenset(
    {
        "self",
        "spawn",
        "send",
        "call",
        "register",
        "whereis",
        "now",
        "log",
        "link",
        "unlink",
        "monitor",
        "demonitor",
        "trap-exits",
    }
)


@dataclass(frozen=True)
class Limits:
    """Resource limits armed on every Store. See :class:`hostkit.HostConfig`."""

    memory_bytes: int
    table_elements: int
    instances: int
    tables: int
    memories: int


class CompiledComponent:
    """A validated, compiled component, ready to instantiate many times."""

    __slots__ = (
        "_deliver_idx",
        "_init_idx",
        "_terminate_idx",
        "digest",
        "imports",
        "name",
        "needs_wasi",
        "raw",
        "size",
    )

    def __init__(
        self,
        name: str,
        digest: str,
        raw: Any,
        size: int,
        imports: tuple[str, ...],
        needs_wasi: bool,
    ) -> None:
        self.name = name
        self.digest = digest
        self.raw = raw
        self.size = size
        self.imports = imports
        self.needs_wasi = needs_wasi
        actor = raw.get_export_index(ACTOR_IFACE)
        self._init_idx = raw.get_export_index("init", actor)
        self._deliver_idx = raw.get_export_index("deliver", actor)
        self._terminate_idx = raw.get_export_index("terminate", actor)

    def __repr__(self) -> str:
        return f"<Component {self.name!r} sha256:{self.digest[:12]}>"


class WasmEngine:
    """Engine, ticker, compile cache and the shared Linker of one host."""

    def __init__(
        self,
        *,
        process_api: ProcessApi,
        host_functions: Sequence[HostFunction] = (),
        cache_dir: Path | None,
        tick_seconds: float,
        fuel: bool,
        wasi: bool,
        max_component_bytes: int,
        resolver: ImportResolver | None = None,
    ) -> None:
        self._resolver = resolver
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = fuel
        self.fuel_enabled = fuel
        self.engine = wasmtime.Engine(cfg)
        self.cache_dir = cache_dir
        self.max_component_bytes = max_component_bytes
        self.wasi = wasi
        self._fingerprint = f"wasmtime-{WASMTIME_VERSION}-fuel{int(fuel)}-epoch1"
        self._tick = tick_seconds
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._api = process_api
        self._callbacks = _process_callbacks(lambda: self._api)
        self._host_funcs: dict[str, dict[str, HostFunction]] = {}
        for hf in host_functions:
            self._host_funcs.setdefault(hf.interface, {})[hf.name] = hf
        self._host_func_ids: list[int] = []
        self.linker = self._build_linker()

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self._ticker = threading.Thread(target=self._tick_loop, name="hostkit-epoch", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join()
        for fid in self._host_func_ids:
            _HOST_FUNCS.pop(fid, None)
            _PLANS.pop(fid, None)

    def _tick_loop(self) -> None:
        while not self._ticker_stop.wait(self._tick):
            self.engine.increment_epoch()

    # -- linking ---------------------------------------------------------
    def _build_linker(self) -> Any:
        linker = wc.Linker(self.engine)
        if self.wasi:
            linker.add_wasip2()
        with linker.root() as root:
            with root.add_instance(TYPES_IFACE):
                pass
            with root.add_instance(PROCESS_IFACE) as proc:
                for name, cb in self._callbacks.items():
                    self._add_raw(proc, name, cb, 0)
            for iface, funcs in self._host_funcs.items():
                with root.add_instance(iface) as inst:
                    for name, hf in funcs.items():
                        fid = next(_host_func_ids)
                        _HOST_FUNCS[fid] = (hf.impl, self)
                        self._host_func_ids.append(fid)
                        self._add_raw(inst, name, _generic_host_call, fid)
        return linker

    @staticmethod
    def _add_raw(inst: Any, name: str, cb: Any, data: int) -> None:
        raw = name.encode()
        err = ffi.wasmtime_component_linker_instance_add_func(
            inst.ptr(), raw, len(raw), cb, data, _noop_finalizer
        )
        if err:
            raise wasmtime.WasmtimeError._from_ptr(err)

    def _resolve(self, interface: str, function: str, func_type: Any) -> bool:
        """Ask the resolver for an import; remember and link what it gives."""
        if self._resolver is None:
            return False
        impl = self._resolver(interface, function, func_type)
        if impl is None:
            return False
        self._host_funcs.setdefault(interface, {})[function] = HostFunction(
            interface, function, impl
        )
        return True

    def provides(self, interface: str, function: str) -> bool:
        if interface == PROCESS_IFACE:
            return function in PROCESS_FUNCTIONS
        return function in self._host_funcs.get(interface, {})

    # -- compiling ---------------------------------------------------------
    def compile(self, name: str, data: bytes) -> CompiledComponent:
        """Validate ``data`` and compile it (or load it from the cache)."""
        self._check_header(name, data)
        digest = hashlib.sha256(data).hexdigest()
        raw = self._load_cached(digest)
        if raw is None:
            try:
                raw = wc.Component(self.engine, data)
            except wasmtime.WasmtimeError as exc:
                raise ComponentLoadError(
                    name, f"malformed or invalid component: {_first_lines(str(exc))}"
                ) from None
            self._store_cached(digest, raw)
        imports, needs_wasi = self._check_types(name, raw)
        return CompiledComponent(name, digest, raw, len(data), imports, needs_wasi)

    def _check_header(self, name: str, data: bytes) -> None:
        if len(data) > self.max_component_bytes:
            raise ComponentLoadError(
                name,
                f"{len(data)} bytes exceeds the limit of {self.max_component_bytes} bytes "
                "(raise max_component_bytes if this is expected)",
            )
        if len(data) < 8 or data[:4] != _COMPONENT_MAGIC:
            raise ComponentLoadError(
                name, "not a WebAssembly binary (the file does not start with the \\0asm magic)"
            )
        if data[6:8] == b"\x00\x00":
            raise ComponentLoadError(
                name,
                "this is a core WebAssembly module, not a component; wrap it with "
                "`wasm-tools component new` against the hostkit:plugin WIT",
            )
        if data[6:8] != _COMPONENT_LAYER:
            raise ComponentLoadError(name, f"unsupported binary layer/version {data[4:8].hex()}")

    def _check_types(self, name: str, raw: Any) -> tuple[tuple[str, ...], bool]:
        ctype = raw.type
        exports = ctype.exports(self.engine)
        actor = exports.get(ACTOR_IFACE)
        if actor is None:
            found = ", ".join(sorted(exports)) or "nothing"
            raise ComponentLoadError(
                name,
                f"missing export {ACTOR_IFACE} (it exports {found}); build it against "
                "the world hostkit:plugin/plugin",
            )
        actor_ty = actor.ty
        funcs = (
            {k: v.ty for k, v in actor_ty.exports(self.engine).items()}
            if isinstance(actor_ty, wc.ComponentInstanceType)
            else {}
        )
        missing = [f for f in ("init", "deliver", "terminate") if f not in funcs]
        if missing:
            raise ComponentLoadError(name, f"export {ACTOR_IFACE} lacks {', '.join(missing)}")
        imports = ctype.imports(self.engine)
        unresolved: list[str] = []
        needs_wasi = False
        relink = False
        for iname, item in imports.items():
            if iname == TYPES_IFACE:
                continue
            if iname.startswith("wasi:"):
                needs_wasi = True
                if not self.wasi:
                    unresolved.append(iname)
                continue
            ity = item.ty
            if not isinstance(ity, wc.ComponentInstanceType):
                unresolved.append(iname)
                continue
            for fname, fitem in ity.exports(self.engine).items():
                fty = fitem.ty
                if not isinstance(fty, wc.FuncType) or self.provides(iname, fname):
                    continue
                try:
                    bound = self._resolve(iname, fname, fty)
                except ImportRefused as exc:
                    unresolved.append(f"{iname}#{fname} ({exc})")
                    continue
                if bound:
                    relink = True
                else:
                    unresolved.append(f"{iname}#{fname}")
        if unresolved:
            raise ComponentLoadError(
                name,
                "imports that nothing implements: "
                + ", ".join(sorted(unresolved))
                + " (register host functions or a provider plugin for them)",
            )
        if relink:
            # Instances already running keep their links; new ones use this.
            self.linker = self._build_linker()
        return tuple(sorted(imports)), needs_wasi

    # -- the on-disk cache ---------------------------------------------------
    def _cache_path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self._fingerprint / f"{digest}.cwasm"

    def _load_cached(self, digest: str) -> Any | None:
        path = self._cache_path(digest)
        if path is None:
            return None
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        head, body = blob[: len(_CACHE_MAGIC) + 32], blob[len(_CACHE_MAGIC) + 32 :]
        # wasmtime trusts serialized code: only deserialize what we wrote.
        if head != _CACHE_MAGIC + hashlib.sha256(body).digest():
            return None
        try:
            return wc.Component.deserialize(self.engine, body)
        except wasmtime.WasmtimeError:
            return None

    def _store_cached(self, digest: str, raw: Any) -> None:
        path = self._cache_path(digest)
        if path is None:
            return
        try:
            body = bytes(raw.serialize())
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(_CACHE_MAGIC + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full cache dir costs a recompile next time, nothing more.
            return


def _first_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "; ".join(lines[:n])


def _trap_summary(text: str) -> str:
    """``wasm trap: <cause> (at <innermost frame>)`` from wasmtime's report."""
    head, sep, cause = text.partition("Caused by:")
    reason = _first_lines(cause, 2) if sep else _first_lines(text, 2)
    frames = [ln.strip() for ln in head.splitlines() if ln.strip()[:2] == "0:"]
    where = " ".join(frames[0].split()[1:]) if frames else ""
    return f"{reason} (at {where})" if where else reason or "trap"


def _error_text(ptr: int) -> str:
    vec = ffi.wasm_byte_vec_t()
    _error_message(ptr, byref(vec))
    text = string_at(vec.data, vec.size).decode(errors="replace") if vec.size else ""
    _bytevec_delete(byref(vec))
    _error_delete(ptr)
    return text


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
        self.guard = Guard()
        self.guard_id = next(_guard_ids)
        _GUARDS[self.guard_id] = self.guard
        store = wasmtime.Store(engine.engine)
        self.store: Any = store
        store.set_limits(
            memory_size=limits.memory_bytes,
            table_elements=limits.table_elements,
            instances=limits.instances,
            tables=limits.tables,
            memories=limits.memories,
        )
        ffi.wasmtime_store_epoch_deadline_callback(
            store.ptr(), _on_epoch_deadline, self.guard_id, _noop_finalizer
        )
        if component.needs_wasi:
            store.set_wasi(_sandbox_wasi(stdio))
        self._ctx = store._context()
        self._params = (_Val * 1)()
        self._result = _Val()
        self._arm(fuel, deadline)
        prev = getattr(_TLS, "inst", None)
        _TLS.inst = self
        try:
            inst = engine.linker.instantiate(store, component.raw)
        except wasmtime.WasmtimeError as exc:
            raise self._fault_from_text(str(exc)) from None
        finally:
            _TLS.inst = prev
        self._inst = inst._instance
        self._deliver = self._lookup(component._deliver_idx)

    def _arm(self, fuel: int, deadline: float) -> None:
        guard = self.guard
        guard.deadline = deadline
        guard.host_calls = 0
        if self._engine.fuel_enabled:
            _set_fuel(self._ctx, fuel)
        _set_deadline(self._ctx, 1)

    def drop(self) -> None:
        """Release the Store. The instance is never entered again."""
        _GUARDS.pop(self.guard_id, None)
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
        p0.kind = _K_STRING
        _bytevec_new(byref(p0.of.string), len(arg), arg)
        res = self._result
        prev = getattr(_TLS, "inst", None)
        _TLS.inst = self
        try:
            err = _func_call(
                byref(func), self._ctx, params, 1, byref(res) if want else None, 1 if want else 0
            )
        finally:
            _TLS.inst = prev
            _val_delete(byref(p0))
        if err:
            raise self._fault_from_text(_error_text(err))
        if self.guard.abort is not None:  # e.g. killed just as it returned
            raise self._fault_from_text("")
        if not want:
            return None
        return res

    def deliver(self, batch: bytes, fuel: int, deadline: float) -> bytes:
        res = self._call(self._deliver, batch, fuel, deadline, True)
        s = res.of.string
        out = string_at(s.data, s.size) if s.size else b""
        _val_delete(byref(res))
        return out

    def init(self, args: bytes, fuel: int, deadline: float) -> str | None:
        """Run ``init``; returns the guest's error string, or None on success."""
        func = self._lookup(self.component._init_idx)
        res = self._call(func, args, fuel, deadline, True)
        try:
            if res.of.result.is_ok:
                return None
            ptr = res.of.result.val
            return _read_str(ptr.contents).decode(errors="replace") if ptr else "init failed"
        finally:
            _val_delete(byref(res))

    def terminate(self, reason: str, fuel: int, deadline: float) -> None:
        func = self._lookup(self.component._terminate_idx)
        self._call(func, reason.encode(), fuel, deadline, False)

    def _lookup(self, index: Any) -> Any:
        if self.store is None:
            raise GuestFault("killed", "instance already dropped")
        raw = ffi.wasmtime_component_func_t()
        if not _instance_get_func(byref(self._inst), self._ctx, index.ptr(), byref(raw)):
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


def host_function_table(
    funcs: Mapping[str, Mapping[str, Callable[..., Any]]],
) -> list[HostFunction]:
    """Flatten ``{interface: {function: impl}}`` into :class:`HostFunction` s."""
    return [HostFunction(i, n, f) for i, fs in funcs.items() for n, f in fs.items()]
