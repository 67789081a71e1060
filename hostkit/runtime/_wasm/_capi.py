"""wasmtime's C API as hostkit calls it: our own ctypes prototypes (never
wasmtime-py's, which we must not mutate), value-kind constants, and the
small helpers raw host callbacks use to read and write C values.

The prototypes were checked against wasmtime 50's C headers
(``crates/c-api/include/wasmtime/{component/func.h,component/val.h,store.h,
error.h}``) as shipped in wasmtime-py 50's ``_bindings.py``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from ctypes import byref, string_at
from typing import Any

from wasmtime import _ffi as ffi

_dll = ffi.dll


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = _dll[name]  # indexing makes a fresh function object
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


VP = ctypes.c_void_p
func_call = _proto(
    "wasmtime_component_func_call", VP, VP, VP, VP, ctypes.c_size_t, VP, ctypes.c_size_t
)
set_fuel = _proto("wasmtime_context_set_fuel", VP, VP, ctypes.c_uint64)
set_deadline = _proto("wasmtime_context_set_epoch_deadline", None, VP, ctypes.c_uint64)
bytevec_new = _proto("wasm_byte_vec_new", None, VP, ctypes.c_size_t, ctypes.c_char_p)
val_delete = _proto("wasmtime_component_val_delete", None, VP)
val_new = _proto("wasmtime_component_val_new", VP, VP)
error_new = _proto("wasmtime_error_new", VP, ctypes.c_char_p)
error_delete = _proto("wasmtime_error_delete", None, VP)
error_message = _proto("wasmtime_error_message", None, VP, VP)
bytevec_delete = _proto("wasm_byte_vec_delete", None, VP)
instance_get_func = _proto("wasmtime_component_instance_get_func", ctypes.c_bool, VP, VP, VP, VP)
# void wasmtime_store_limiter(wasmtime_store_t*, int64_t memory_size,
#     int64_t table_elements, int64_t instances, int64_t tables, int64_t memories)
store_limiter = _proto(
    "wasmtime_store_limiter",
    None,
    VP,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
)

Val = ffi.wasmtime_component_val_t
K_BOOL, K_U32, K_U64, K_STRING = 0, 6, 8, 12
K_VARIANT, K_ENUM, K_OPTION, K_RESULT = 16, 17, 18, 19

DeadlineCb = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
HostCallback = ffi.wasmtime_component_func_callback_t


@Finalizer  # type: ignore[untyped-decorator]
def noop_finalizer(data: Any) -> None:
    return None


def trap_error(message: str) -> int:
    """A fresh ``wasmtime_error_t*`` carrying ``message`` (wasmtime owns it)."""
    ptr: int = error_new(message.encode())
    return ptr


def error_text(ptr: int) -> str:
    """The message of a ``wasmtime_error_t*``, which is deleted."""
    vec = ffi.wasm_byte_vec_t()
    error_message(ptr, byref(vec))
    text = string_at(vec.data, vec.size).decode(errors="replace") if vec.size else ""
    bytevec_delete(byref(vec))
    error_delete(ptr)
    return text


# -- C values, for raw callbacks whose types were checked at load ---------------


def read_str(val: Any) -> bytes:
    s = val.of.string
    return string_at(s.data, s.size) if s.size else b""


def put_str(val: Any, data: bytes) -> None:
    val.kind = K_STRING
    bytevec_new(byref(val.of.string), len(data), data)


def put_name(vec: Any, name: bytes) -> None:
    bytevec_new(byref(vec), len(name), name)


def boxed(fill: Callable[[Any], None]) -> Any:
    tmp = Val()
    fill(tmp)
    return ctypes.cast(val_new(byref(tmp)), ctypes.POINTER(Val))


def put_result(val: Any, ok: bool, fill: Callable[[Any], None] | None) -> None:
    val.kind = K_RESULT
    val.of.result.is_ok = ok
    val.of.result.val = boxed(fill) if fill is not None else None


def put_u64(val: Any, v: int) -> None:
    val.kind = K_U64
    val.of.u64 = v


def put_enum(val: Any, case: bytes) -> None:
    val.kind = K_ENUM
    put_name(val.of.enumeration, case)


def put_variant(val: Any, case: bytes, fill: Callable[[Any], None] | None) -> None:
    val.kind = K_VARIANT
    put_name(val.of.variant.discriminant, case)
    val.of.variant.val = boxed(fill) if fill is not None else None


def first_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "; ".join(lines[:n])


# -- engine configuration: memory tunables and the pooling allocator -----------
# Checked against crates/c-api/include/wasmtime/config.h (WASMTIME_CONFIG_PROP
# and WASMTIME_POOLING_ALLOCATION_CONFIG_PROP expand to
# ``void wasmtime_config_<name>_set(wasm_config_t*, ty)`` and
# ``void wasmtime_pooling_allocation_config_<name>_set(
# wasmtime_pooling_allocation_config_t*, ty)``) and against the prototypes
# wasmtime-py 50 generated from the v50 headers.
U32, U64, SIZE = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t
config_memory_reservation = _proto("wasmtime_config_memory_reservation_set", None, VP, U64)
config_memory_guard_size = _proto("wasmtime_config_memory_guard_size_set", None, VP, U64)
config_memory_init_cow = _proto("wasmtime_config_memory_init_cow_set", None, VP, ctypes.c_bool)
pool_new = _proto("wasmtime_pooling_allocation_config_new", VP)
pool_delete = _proto("wasmtime_pooling_allocation_config_delete", None, VP)
# void wasmtime_pooling_allocation_strategy_set(wasm_config_t*,
#     const wasmtime_pooling_allocation_config_t*): copies, does not take ownership
pool_strategy_set = _proto("wasmtime_pooling_allocation_strategy_set", None, VP, VP)
#: setter name -> its C value type
POOL_SETTERS: dict[str, Any] = {
    name: _proto(f"wasmtime_pooling_allocation_config_{name}_set", None, VP, ty)
    for name, ty in (
        ("total_component_instances", U32),
        ("total_core_instances", U32),
        ("total_memories", U32),
        ("total_tables", U32),
        ("max_core_instances_per_component", U32),
        ("max_memories_per_component", U32),
        ("max_tables_per_component", U32),
        ("max_memories_per_module", U32),
        ("max_tables_per_module", U32),
        ("max_memory_size", SIZE),
        ("table_elements", SIZE),
    )
}
