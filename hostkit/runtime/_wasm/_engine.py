"""The engine of one host: wasmtime's Engine (epoch interruption, fuel),
the epoch ticker, compiling (validation first, then the on-disk cache), and
the Linker with hostkit's own imports and every bound host function."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ..._errors import ComponentLoadError
from ._cache import ComponentCache, fingerprint
from ._capi import first_lines, noop_finalizer
from ._process import (
    ACTOR_IFACE,
    PROCESS_FUNCTIONS,
    PROCESS_IFACE,
    TYPES_IFACE,
    ProcessApi,
    process_callbacks,
)
from ._values import _PLANS as PLANS
from ._values import HOST_FUNCS, generic_host_call, host_func_ids

__all__ = [
    "CompiledComponent",
    "HostFunction",
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
        self._cache = ComponentCache(self.engine, cache_dir, fingerprint(fuel))
        self.max_component_bytes = max_component_bytes
        self.wasi = wasi
        self._tick = tick_seconds
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._api = process_api
        self._callbacks = process_callbacks(lambda: self._api)
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
            HOST_FUNCS.pop(fid, None)
            PLANS.pop(fid, None)

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
                        fid = next(host_func_ids)
                        HOST_FUNCS[fid] = (hf.impl, f"{iface}#{name}")
                        self._host_func_ids.append(fid)
                        self._add_raw(inst, name, generic_host_call, fid)
        return linker

    @staticmethod
    def _add_raw(inst: Any, name: str, cb: Any, data: int) -> None:
        raw = name.encode()
        err = ffi.wasmtime_component_linker_instance_add_func(
            inst.ptr(), raw, len(raw), cb, data, noop_finalizer
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
        raw = self._cache.load(digest)
        if raw is None:
            try:
                raw = wc.Component(self.engine, data)
            except wasmtime.WasmtimeError as exc:
                raise ComponentLoadError(
                    name, f"malformed or invalid component: {first_lines(str(exc))}"
                ) from None
            self._cache.store(digest, raw)
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


def host_function_table(
    funcs: Mapping[str, Mapping[str, Callable[..., Any]]],
) -> list[HostFunction]:
    """Flatten ``{interface: {function: impl}}`` into :class:`HostFunction` s."""
    return [HostFunction(i, n, f) for i, fs in funcs.items() for n, f in fs.items()]
