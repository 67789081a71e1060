"""wasmtime's C API as hostkit calls it: our own ctypes prototypes (never
wasmtime-py's, which we must not mutate), value-kind constants, and the
small helpers raw host callbacks use to read and write C values.

The prototypes were checked against wasmtime 50's C headers
(``crates/c-api/include/wasmtime/{component/func.h,component/val.h,store.h,
error.h}``) as shipped in wasmtime-py 50's ``_bindings.py``; the async ones
against ``async.h``, ``component/func.h`` and ``component/linker.h`` (see
"async C API" below).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from ctypes import byref, string_at
from typing import Any

from wasmtime import _ffi as ffi

_dll = ffi.dll


#: The same library for calls that run no guest code and return at once:
#: they keep the GIL (a GIL release and re-acquire per call costs more than
#: the call; an activation makes several).
_quick_dll = ctypes.PyDLL(_dll._name)


def _proto(name: str, restype: Any, *argtypes: Any, quick: bool = False) -> Any:
    fn = (_quick_dll if quick else _dll)[name]  # indexing makes a fresh function object
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


VP = ctypes.c_void_p
func_call = _proto(
    "wasmtime_component_func_call", VP, VP, VP, VP, ctypes.c_size_t, VP, ctypes.c_size_t
)
set_fuel = _proto("wasmtime_context_set_fuel", VP, VP, ctypes.c_uint64, quick=True)
set_deadline = _proto("wasmtime_context_set_epoch_deadline", None, VP, ctypes.c_uint64, quick=True)
bytevec_new = _proto("wasm_byte_vec_new", None, VP, ctypes.c_size_t, ctypes.c_char_p, quick=True)
val_delete = _proto("wasmtime_component_val_delete", None, VP, quick=True)
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

# -- async C API (wasmtime/async.h, component/func.h, component/linker.h) -------
# wasmtime 50 has no ``wasmtime_config_async_support_set``: ``Config::
# async_support`` became a no-op and a *Store* turns async on its own once it
# needs to (a linker with async host functions, a deadline callback that
# yields). Such a store must then be entered through the ``*_async``
# entry points only, each returning a ``wasmtime_call_future_t*`` polled
# until it reports done; every argument must stay alive and unmodified
# until the future is deleted. Deleting an unfinished future unwinds the
# suspended guest (wasmtime "disposes" its fiber) without running it.
#
# wasmtime_call_future_t *wasmtime_component_func_call_async(
#     const wasmtime_component_func_t *func, wasmtime_context_t *context,
#     const wasmtime_component_val_t *args, size_t args_size,
#     wasmtime_component_val_t *results, size_t results_size,
#     wasmtime_error_t **error_ret);
func_call_async = _proto(
    "wasmtime_component_func_call_async",
    VP,
    VP,
    VP,
    VP,
    ctypes.c_size_t,
    VP,
    ctypes.c_size_t,
    VP,
    quick=True,  # only builds the future: nothing runs until it is polled
)
# bool wasmtime_call_future_poll(wasmtime_call_future_t *future);
future_poll = _proto("wasmtime_call_future_poll", ctypes.c_bool, VP)
# void wasmtime_call_future_delete(wasmtime_call_future_t *future);
# (an unfinished future's guest is unwound, none of it runs: quick as well)
future_delete = _proto("wasmtime_call_future_delete", None, VP, quick=True)
# wasmtime_call_future_t *wasmtime_component_linker_instantiate_async(
#     const wasmtime_component_linker_t *linker, wasmtime_context_t *context,
#     const wasmtime_component_t *component,
#     wasmtime_component_instance_t *instance_out, wasmtime_error_t **error_ret);
instantiate_async = _proto("wasmtime_component_linker_instantiate_async", VP, VP, VP, VP, VP, VP)
# void wasmtime_config_async_stack_size_set(wasm_config_t*, size_t)
config_async_stack_size = _proto("wasmtime_config_async_stack_size_set", None, VP, ctypes.c_size_t)

#: bool (*wasmtime_func_async_continuation_callback_t)(void *env)
ContinuationCb = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)


class Continuation(ctypes.Structure):
    """``wasmtime_async_continuation_t``: wasmtime polls ``callback(env)``
    until it returns true; then it reads the host function's results."""

    _fields_ = [
        ("callback", ContinuationCb),
        ("env", ctypes.c_void_p),
        ("finalizer", ctypes.c_void_p),  # void (*)(void*), NULL: nothing to free
    ]


#: void (*wasmtime_component_func_async_callback_t)(void *env,
#:     wasmtime_context_t *context, const wasmtime_component_func_type_t *ty,
#:     wasmtime_component_val_t *args, size_t nargs,
#:     wasmtime_component_val_t *results, size_t nresults,
#:     wasmtime_error_t **error_ret, wasmtime_async_continuation_t *continuation_ret);
AsyncHostCallback = ctypes.CFUNCTYPE(
    None,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.POINTER(ffi.wasmtime_component_val_t),
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_component_val_t),
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(Continuation),
)
Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# wasmtime_error_t *wasmtime_component_linker_instance_add_func_async(
#     wasmtime_component_linker_instance_t *linker_instance, const char *name,
#     size_t name_len, wasmtime_component_func_async_callback_t callback,
#     void *data, void (*finalizer)(void *));
add_func_async = _proto(
    "wasmtime_component_linker_instance_add_func_async",
    VP,
    VP,
    ctypes.c_char_p,
    ctypes.c_size_t,
    AsyncHostCallback,
    VP,
    Finalizer,
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
HostCallback = ffi.wasmtime_component_func_callback_t


@Finalizer  # type: ignore[untyped-decorator]
def noop_finalizer(data: Any) -> None:
    return None


#: The continuation of every suspending host call: C's ``strlen(env)``, with
#: ``env`` a 2-byte buffer per instance holding "" (not yet: 0, false) or
#: "\x01" (done: 1, true). wasmtime polls it on the fiber each time the
#: call's future is polled; a C function instead of a Python callback saves
#: a GIL round trip per host call, and no Python runs on the fiber for it.
#: (``bool`` is returned in the low byte of the return register on every
#: ABI wasmtime supports, and strlen here returns exactly 0 or 1.)
_strlen: int = ctypes.cast(ctypes.CDLL(None).strlen, ctypes.c_void_p).value or 0
flag_continuation = ContinuationCb(_strlen)


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
        ("total_stacks", U32),
    )
}
