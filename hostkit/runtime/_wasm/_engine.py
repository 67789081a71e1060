"""The engine of one host: wasmtime's Engine (epoch interruption, fuel),
the epoch ticker, compiling (validation first, then the on-disk cache), and
the Linker with hostkit's own imports and every bound host function."""

from __future__ import annotations

import ctypes
import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ..._errors import ComponentLoadError
from .._wittypes import WitFunc
from . import _capi
from ._arena import Arena, ArenaSettings, configure_arena
from ._cache import ComponentCache, fingerprint
from ._capi import first_lines, noop_finalizer
from ._compile import CompileLimits, CompileProgress, compile_in_worker
from ._guard import NoLoop, PendingSlots, Suspender
from ._layout import Layout, count_layout
from ._pool import PoolSettings, configure_engine
from ._process import (
    ACTOR_IFACE,
    ACTOR_SIGNATURES,
    PROCESS_FUNCTIONS,
    PROCESS_IFACE,
    PROCESS_SIGNATURES,
    SUSPENDING_PROCESS_FUNCTIONS,
    TYPES_IFACE,
    ProcessApi,
    process_callbacks,
)
from ._types import describe_func
from ._values import _PLANS as PLANS
from ._values import HOST_FUNCS, func_plan, generic_host_call, host_func_ids

__all__ = [
    "CompiledComponent",
    "HostFunction",
    "ImportMistyped",
    "ImportRefused",
    "ImportResolver",
    "Limits",
    "WasmEngine",
    "host_function_table",
]

_COMPONENT_MAGIC: Final = b"\0asm"
_COMPONENT_LAYER: Final = b"\x01\x00"


@dataclass(frozen=True)
class HostFunction:
    """A Python implementation of one imported WIT function.

    ``interface`` is the full interface name as the component imports it
    (``"acme:game/world@1.0.0"``), ``name`` the function (``"spawn-monster"``).
    ``impl(inst, *args)`` receives wasmtime-py's Python values for the
    arguments and returns the result value in the same representation, or
    an *awaitable* of it (e.g. it is an ``async def``): the guest's call then
    suspends without holding a scheduler thread while the awaitable runs as
    a task on the host's Trio loop, and resumes with its value (lowered and
    range-checked exactly like a value returned directly) or its exception
    (mapped like one raised directly).
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


class ImportMistyped(ImportRefused):
    """Raised by an :data:`ImportResolver`: the host implements the import
    with another type. The load error names both."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(f"expected {expected}, found {found}")
        self.expected = expected
        self.found = found


@dataclass(frozen=True)
class Limits:
    """Resource limits armed on every Store. See :class:`hostkit.HostConfig`.

    ``memory_bytes`` and ``table_elements`` bound the *total* of all linear
    memories and tables of one instance, whatever their number; ``memories``
    and ``tables`` bound how many one component may define (refused at load).
    """

    memory_bytes: int
    table_elements: int
    instances: int
    tables: int
    memories: int

    def shares(self, layout: Layout) -> tuple[int, int, int, int]:
        """``(memories, bytes each, tables, elements each)`` for a Store
        running a component with ``layout``: wasmtime's limiter bounds each
        memory and table and their count, so a share of the total each
        keeps the sum within it (see ``_layout``)."""
        memories = max(1, min(layout.memories, self.memories))
        tables = max(1, min(layout.tables, self.tables))
        return memories, self.memory_bytes // memories, tables, self.table_elements // tables

    def check(self, name: str, layout: Layout) -> None:
        """Refuse a component defining more memories or tables than allowed.

        Raises:
            ComponentLoadError: naming the count and the limit.
        """
        if layout.memories > self.memories:
            raise ComponentLoadError(
                name,
                f"it defines {layout.memories} linear memories; the host allows "
                f"{self.memories} per instance (HostConfig.max_memories)",
            )
        if layout.tables > self.tables:
            raise ComponentLoadError(
                name,
                f"it defines {layout.tables} tables; the host allows "
                f"{self.tables} per instance (HostConfig.max_tables)",
            )


class CompiledComponent:
    """A validated, compiled component, ready to instantiate many times."""

    __slots__ = (
        "_deliver_idx",
        "_init_idx",
        "_terminate_idx",
        "digest",
        "imports",
        "layout",
        "limits",
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
        layout: Layout,
    ) -> None:
        self.name = name
        self.layout = layout
        self.digest = digest
        self.raw = raw
        self.size = size
        self.imports = imports
        self.needs_wasi = needs_wasi
        self.limits: Any = None  # a runtime EffectiveLimits, set by Host.load
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
        pool: PoolSettings | None = None,
        arena: ArenaSettings | None = None,
    ) -> None:
        self._resolver = resolver
        # Compiled code depends on these settings: the compile worker
        # (_worker.py) and the cache fingerprint (_cache.py) must match them.
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = fuel
        self.fuel_enabled = fuel
        self.pool = pool
        if pool is not None:
            configure_engine(cfg, pool)
        #: hostkit's own stacks and memories (see ``_arena``), or None
        self.arena: Arena | None = None
        self.arena_settings = arena
        if arena is not None and pool is None:
            self.arena = configure_arena(cfg, arena)
        try:
            self.engine = wasmtime.Engine(cfg)
        except wasmtime.WasmtimeError as exc:
            raise ValueError(
                f"the instance pool could not be reserved ({first_lines(str(exc))}); "
                "lower HostConfig.pool_instances / pool_memories or max_memory_bytes"
            ) from None
        self.cache_dir = cache_dir
        memory_key = "" if pool is None else pool.fingerprint
        if self.arena is not None and arena is not None:
            memory_key = arena.fingerprint
        self._cache = ComponentCache(self.engine, cache_dir, fingerprint(fuel, memory_key))
        self.max_component_bytes = max_component_bytes
        self.wasi = wasi
        self._tick = tick_seconds
        #: an activation's slice: the epoch callback yields the thread after it
        self.slice_seconds = tick_seconds
        #: the cap on pending async host calls across the engine's instances
        self.pending_slots = PendingSlots(10_000)
        self.suspender: Suspender = NoLoop()
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._api = process_api
        self._callbacks = process_callbacks(lambda: self._api)
        self._host_funcs: dict[str, dict[str, HostFunction]] = {}
        for hf in host_functions:
            self._host_funcs.setdefault(hf.interface, {})[hf.name] = hf
        self._host_func_ids: list[int] = []
        self._fids: dict[tuple[str, str], int] = {}
        self._link_lock = threading.Lock()
        # digest -> wasmtime component: loading the same bytes again reuses it
        self._loaded: dict[str, Any] = {}
        # the type each host function was first imported with; later
        # components must import it with the same type
        self._types: dict[tuple[str, str], WitFunc] = {}
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
            HOST_FUNCS.pop(fid, None)
            PLANS.pop(fid, None)
        if self.arena is not None:
            self.arena.close()

    def set_slice(self, seconds: float) -> None:
        """Yield the thread every ``seconds`` of guest execution: the epoch
        ticker then ticks at least twice a slice (a slice ends at the first
        tick past it; the period is re-read every tick)."""
        self.slice_seconds = seconds
        self._tick = min(self._tick, seconds / 2)

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
                    if name in SUSPENDING_PROCESS_FUNCTIONS:
                        self._add_raw_async(proc, name, cb, 0)
                    else:
                        self._add_raw(proc, name, cb, 0)
            for iface, funcs in self._host_funcs.items():
                with root.add_instance(iface) as inst:
                    for name, hf in funcs.items():
                        # any of them may return an awaitable: all are async
                        self._add_raw_async(inst, name, generic_host_call, self._fid(hf))
        return linker

    def _fid(self, hf: HostFunction) -> int:
        """The callback data of a host function: one per function per engine."""
        key = (hf.interface, hf.name)
        fid = self._fids.get(key)
        if fid is None:
            fid = self._fids[key] = next(host_func_ids)
            self._host_func_ids.append(fid)
        HOST_FUNCS[fid] = (hf.impl, f"{hf.interface}#{hf.name}")
        return fid

    @staticmethod
    def _add_raw(inst: Any, name: str, cb: Any, data: int) -> None:
        raw = name.encode()
        err = ffi.wasmtime_component_linker_instance_add_func(
            inst.ptr(), raw, len(raw), cb, data, noop_finalizer
        )
        if err:
            raise wasmtime.WasmtimeError._from_ptr(err)

    @staticmethod
    def _add_raw_async(inst: Any, name: str, cb: Any, data: int) -> None:
        """An import that may suspend the guest (see ``_guard.async_firewall``).
        A linker with one makes every Store it instantiates "async": every
        call must then go through the ``*_async`` C API, as `Instance` does."""
        raw = name.encode()
        err = _capi.add_func_async(inst.ptr(), raw, len(raw), cb, data, noop_finalizer)
        if err:
            raise wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t))
            )

    def provides(self, interface: str, function: str) -> bool:
        if interface == PROCESS_IFACE:
            return function in PROCESS_FUNCTIONS
        return function in self._host_funcs.get(interface, {})

    # -- compiling ---------------------------------------------------------
    def compile(
        self,
        name: str,
        data: bytes,
        limits: Limits | None = None,
        *,
        compile_limits: CompileLimits | None = None,
        progress: Callable[[CompileProgress], None] | None = None,
        may_compile: bool = True,
        cache_key_file: Path | None = None,
    ) -> CompiledComponent:
        """Validate ``data`` and compile it, or reuse it: a component with
        the same digest already loaded in this engine, else the on-disk cache.

        Args:
            limits: a component defining more memories or tables than these
                allow is refused before anything is compiled.
            compile_limits: compile in a worker process bounded by these
                (``None``: in this process, unbounded; for tools only).
            progress: called while a compile runs (see `CompileProgress`).
            may_compile: ``False`` refuses a component that would need
                compiling (sync loads on the Trio thread).
            cache_key_file: the compile cache's key (see ``_cache``);
                ``None``: next to the cache directory.
        """
        self._check_header(name, data)
        try:
            layout = count_layout(data)
        except ValueError as exc:
            raise ComponentLoadError(name, f"malformed component: {exc}") from None
        if limits is not None:
            limits.check(name, layout)
        digest = hashlib.sha256(data).hexdigest()
        raw = self._loaded.get(digest)
        if raw is None:
            self._cache.use_key_file(cache_key_file)
            raw = self._cache.load(digest)
            if raw is None:
                if not may_compile:
                    raise ComponentLoadError(
                        name,
                        f"compiling it ({len(data)} bytes) would block the Trio event loop; "
                        "use `await host.load_async(...)` (or raise "
                        "HostConfig.max_blocking_compile_bytes)",
                    )
                raw = self._compile(name, data, digest, compile_limits, progress)
            self._loaded[digest] = raw
        with self._link_lock:  # loads run in worker threads too
            imports, needs_wasi = self._check_types(name, raw)
        return CompiledComponent(name, digest, raw, len(data), imports, needs_wasi, layout)

    def _compile(
        self,
        name: str,
        data: bytes,
        digest: str,
        limits: CompileLimits | None,
        progress: Callable[[CompileProgress], None] | None,
    ) -> Any:
        if limits is None:
            try:
                raw = wc.Component(self.engine, data)
            except wasmtime.WasmtimeError as exc:
                raise ComponentLoadError(
                    name, f"malformed or invalid component: {first_lines(str(exc))}"
                ) from None
            self._cache.store(digest, bytes(raw.serialize()))
            return raw
        started = time.monotonic()
        body = compile_in_worker(
            name,
            data,
            fuel=self.fuel_enabled,
            limits=limits,
            progress=progress,
            memory=self.memory_settings,
        )
        if progress is not None:
            progress(
                CompileProgress(name, "loading", time.monotonic() - started, limits.cpu_seconds)
            )
        try:
            raw = wc.Component.deserialize(self.engine, body)
        except wasmtime.WasmtimeError as exc:
            raise ComponentLoadError(
                name, f"the compile worker's output did not load: {first_lines(str(exc))}"
            ) from None
        self._cache.store(digest, body)
        return raw

    @property
    def memory_settings(self) -> tuple[int, bool]:
        """``(memory_reservation, memory_init_cow)`` as the compile worker
        needs them; ``(0, True)``: wasmtime's defaults (no pool)."""
        pool = self.pool
        if self.arena is not None:
            return (self.arena.slot_bytes, False)
        return (0, True) if pool is None else (pool.memory_bytes, pool.memory_cow)

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
        """Check the actor exports and every import against the exact types
        the host implements; bind what a resolver provides. Nothing is kept
        unless the whole component passes."""
        ctype = raw.type
        self._check_exports(name, ctype.exports(self.engine))
        imports = ctype.imports(self.engine)
        unresolved: list[str] = []
        mistyped: list[str] = []
        # (interface, function) -> (its type, wasmtime's type, impl if newly bound)
        fresh: dict[tuple[str, str], tuple[WitFunc, Any, Callable[..., Any] | None]] = {}
        needs_wasi = False
        for iname, item in imports.items():
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
                if not isinstance(fty, wc.FuncType):
                    continue  # a type the instance exports; wasmtime checks those
                found = describe_func(fty)
                label = f"{iname}#{fname}"
                expected = self._expected_type(iname, fname)
                if expected is None and iname != TYPES_IFACE and iname != PROCESS_IFACE:
                    if not self.provides(iname, fname):
                        try:
                            impl = self._resolve(iname, fname, fty)
                        except ImportMistyped as exc:
                            mistyped.append(f"{label}: {exc}")
                            continue
                        except ImportRefused as exc:
                            unresolved.append(f"{label} ({exc})")
                            continue
                        if impl is None:
                            unresolved.append(label)
                            continue
                        fresh[(iname, fname)] = (found, fty, impl)
                    else:
                        fresh[(iname, fname)] = (found, fty, None)
                    continue
                if expected is None:
                    unresolved.append(label)
                elif str(found) != expected:
                    mistyped.append(f"{label}: expected {expected}, found {found}")
        if mistyped:
            raise ComponentLoadError(
                name,
                "imports whose types differ from what the host implements: "
                + "; ".join(sorted(mistyped))
                + " (rebuild the component against the host's WIT)",
            )
        if unresolved:
            raise ComponentLoadError(
                name,
                "imports that nothing implements: "
                + ", ".join(sorted(unresolved))
                + " (register host functions or a provider plugin for them)",
            )
        if fresh:
            self._commit(fresh)
        return tuple(sorted(imports)), needs_wasi

    def _check_exports(self, name: str, exports: Mapping[str, Any]) -> None:
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
        missing = [f for f in ACTOR_SIGNATURES if f not in funcs]
        if missing:
            raise ComponentLoadError(name, f"export {ACTOR_IFACE} lacks {', '.join(missing)}")
        wrong = [
            f"{ACTOR_IFACE}#{fname}: expected {expected}, found {found}"
            for fname, expected in ACTOR_SIGNATURES.items()
            if not isinstance(funcs[fname], wc.FuncType)
            or (found := str(describe_func(funcs[fname]))) != expected
        ]
        if wrong:
            raise ComponentLoadError(
                name,
                "exports whose types differ from the hostkit:plugin contract: " + "; ".join(wrong),
            )

    def _expected_type(self, interface: str, function: str) -> str | None:
        """The type the host implements for an import, if it has fixed one:
        ``process`` by its WIT, any other function by the first component
        that bound it (its value plan is built from that type)."""
        if interface == PROCESS_IFACE:
            return PROCESS_SIGNATURES.get(function)
        if interface == TYPES_IFACE:
            return None
        known = self._types.get((interface, function))
        return None if known is None else str(known)

    def _resolve(self, interface: str, function: str, func_type: Any) -> Callable[..., Any] | None:
        """Ask the resolver for an import's implementation."""
        if self._resolver is None:
            return None
        return self._resolver(interface, function, func_type)

    def _commit(
        self, fresh: Mapping[tuple[str, str], tuple[WitFunc, Any, Callable[..., Any] | None]]
    ) -> None:
        """Fix the types of newly used host functions and build their plans."""
        relink = False
        for (iface, fname), (found, fty, impl) in fresh.items():
            if impl is not None:
                self._host_funcs.setdefault(iface, {})[fname] = HostFunction(iface, fname, impl)
                relink = True
            self._types[(iface, fname)] = found
            PLANS[self._fid(self._host_funcs[iface][fname])] = func_plan(fty)
        if relink:
            # Instances already running keep their links; new ones use this.
            self.linker = self._build_linker()


def host_function_table(
    funcs: Mapping[str, Mapping[str, Callable[..., Any]]],
) -> list[HostFunction]:
    """Flatten ``{interface: {function: impl}}`` into :class:`HostFunction` s."""
    return [HostFunction(i, n, f) for i, fs in funcs.items() for n, f in fs.items()]
