"""Conversion plans between wasmtime's C values and wasmtime-py's Python
values for generic host functions, and the raw callback that runs them.
"""

from __future__ import annotations

import ctypes
import inspect
import itertools
from collections.abc import Callable
from ctypes import byref
from typing import Any, Final

from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ._guard import Pending, ValueOutOfRange, async_firewall

_Val = ffi.wasmtime_component_val_t

# -- value conversion plans for generic host functions ----------------------------
#
# wasmtime-py converts a host function's values with methods that re-read the
# type's structure through the C API on every call (a result's cases, whether
# a variant is tagged, a record's fields): ~40 us for `result<string, error>`.
# A plan reads it once per function and keeps closures that do the same
# conversions, in wasmtime-py's representation (see ``_wittypes``), mirroring
# its code and its ownership rules (lifting consumes the C value).

_Lift = Callable[[Any], Any]
_Lower = Callable[[Any, Any, Any], None]
_PLANS: dict[int, tuple[tuple[_Lift, ...], _Lower | None]] = {}
_FALSE = ffi.WASMTIME_COMPONENT_BOOL


def func_plan(fty: Any) -> tuple[tuple[_Lift, ...], _Lower | None]:
    result = fty.result
    return (
        tuple(_plan(ty)[0] for _, ty in fty.params),
        None if result is None else _plan(result)[1],
    )


def _plan(ty: Any) -> tuple[_Lift, _Lower]:
    """``(lift, lower)`` for one type: ``lift(c_val) -> value`` (consuming
    it), ``lower(store, value, ptr)`` writing a C value to ``ptr``."""
    if isinstance(ty, wc.ListType):
        return _list_plan(ty)
    if isinstance(ty, wc.RecordType):
        return _record_plan(ty)
    if isinstance(ty, wc.TupleType):
        return _tuple_plan(ty)
    if isinstance(ty, wc.VariantType | wc.OptionType | wc.ResultType):
        return _variant_plan(ty)
    return ty.convert_from_c, _checked_leaf(ty)


_INT_RANGES: dict[type, tuple[str, int, int]] = {
    wc.S8: ("s8", -(1 << 7), 1 << 7),
    wc.S16: ("s16", -(1 << 15), 1 << 15),
    wc.S32: ("s32", -(1 << 31), 1 << 31),
    wc.S64: ("s64", -(1 << 63), 1 << 63),
    wc.U8: ("u8", 0, 1 << 8),
    wc.U16: ("u16", 0, 1 << 16),
    wc.U32: ("u32", 0, 1 << 32),
    wc.U64: ("u64", 0, 1 << 64),
}


def _checked_leaf(ty: Any) -> _Lower:
    """wasmtime-py's lowering of a leaf type behind a range check: ctypes
    wraps an out-of-range int silently, and wasmtime's C API aborts the
    process on a ``char`` that is not a Unicode scalar value."""
    convert = ty.convert_to_c
    bounds = _INT_RANGES.get(type(ty))
    if bounds is not None:
        kind, low, high = bounds

        def lower_int(store: Any, val: Any, ptr: Any) -> None:
            if isinstance(val, bool) or not isinstance(val, int) or not low <= val < high:
                raise ValueOutOfRange(f"{val!r}, not a {kind}")
            convert(store, val, ptr)

        return lower_int
    if isinstance(ty, wc.Char):

        def lower_char(store: Any, val: Any, ptr: Any) -> None:
            if not isinstance(val, str) or len(val) != 1 or 0xD800 <= ord(val) <= 0xDFFF:
                raise ValueOutOfRange(f"{val!r}, not a char (one Unicode scalar value)")
            convert(store, val, ptr)

        return lower_char
    if isinstance(ty, wc.EnumType | wc.FlagsType):
        names = frozenset(ty.names)
        kind = "enum" if isinstance(ty, wc.EnumType) else "flags"

        def lower_names(store: Any, val: Any, ptr: Any) -> None:
            given = val if kind == "flags" and isinstance(val, set) else {val}
            if not all(isinstance(n, str) and n in names for n in given):
                raise ValueOutOfRange(f"{val!r}, not a value of {kind}{{{', '.join(ty.names)}}}")
            convert(store, val, ptr)

        return lower_names
    # bool, floats, string: wasmtime-py checks the Python type, nothing wraps.
    # Anything else (resources) never gets here: refused at load.
    lower: _Lower = convert
    return lower


def _clear(val: Any) -> None:
    val.kind = _FALSE
    val.of.boolean = False


def _list_plan(ty: Any) -> tuple[_Lift, _Lower]:
    element = ty.element
    elem_lift, elem_lower = _plan(element)
    is_bytes = isinstance(element, wc.U8)
    want = bytes if is_bytes else list

    def lift(c: Any) -> Any:
        raw = c.of.list
        try:
            out = []
            for i in range(raw.size):
                item = raw.data[i]
                out.append(elem_lift(item))
                _clear(item)
            return bytes(out) if is_bytes else out
        finally:
            ffi.wasmtime_component_vallist_delete(byref(raw))

    def lower(store: Any, val: Any, ptr: Any) -> None:
        if not isinstance(val, want):
            raise TypeError(f"expected {want.__name__} value")
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, len(val))
        i = 0
        try:
            for item in val:
                elem_lower(store, item, ctypes.pointer(raw.data[i]))
                i += 1
        except BaseException:
            for j in range(i, len(val)):
                _clear(raw.data[j])
            ffi.wasmtime_component_vallist_delete(byref(raw))
            raise
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
        ptr.contents.of.list = raw

    return lift, lower


def _record_plan(ty: Any) -> tuple[_Lift, _Lower]:
    fields = [(name, *_plan(field_ty)) for name, field_ty in ty.fields]
    n = len(fields)

    def lift(c: Any) -> Any:
        raw = c.of.record
        try:
            out = wc.Record()
            for i, (name, field_lift, _) in zip(range(raw.size), fields, strict=False):
                entry = raw.data[i]
                setattr(out, name, field_lift(entry.val))
                _clear(entry.val)
            return out
        finally:
            ffi.wasmtime_component_valrecord_delete(byref(raw))

    def lower(store: Any, val: Any, ptr: Any) -> None:
        raw = ffi.wasmtime_component_valrecord_t()
        ffi.wasmtime_component_valrecord_new_uninit(raw, n)
        i = 0
        try:
            for name, _, field_lower in fields:
                entry = raw.data[i]
                field_lower(store, getattr(val, name), ctypes.pointer(entry.val))
                entry.name = ffi.str_to_capi(name)
                i += 1
        except BaseException:
            for j in range(i, n):
                _clear(raw.data[j].val)
            ffi.wasmtime_component_valrecord_delete(byref(raw))
            raise
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_RECORD
        ptr.contents.of.record = raw

    return lift, lower


def _tuple_plan(ty: Any) -> tuple[_Lift, _Lower]:
    items = [_plan(t) for t in ty.elements]
    n = len(items)

    def lift(c: Any) -> Any:
        raw = c.of.tuple
        try:
            out = []
            for i, (item_lift, _) in zip(range(raw.size), items, strict=False):
                item = raw.data[i]
                out.append(item_lift(item))
                _clear(item)
            return tuple(out)
        finally:
            ffi.wasmtime_component_valtuple_delete(byref(raw))

    def lower(store: Any, val: Any, ptr: Any) -> None:
        if not isinstance(val, tuple):
            raise TypeError("expected tuple type")
        if len(val) != n:
            raise TypeError("tuple length mismatch")
        raw = ffi.wasmtime_component_valtuple_t()
        ffi.wasmtime_component_valtuple_new_uninit(raw, n)
        i = 0
        try:
            for (_, item_lower), item in zip(items, val, strict=True):
                item_lower(store, item, ctypes.pointer(raw.data[i]))
                i += 1
        except BaseException:
            for j in range(i, n):
                _clear(raw.data[j])
            ffi.wasmtime_component_valtuple_delete(byref(raw))
            raise
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_TUPLE
        ptr.contents.of.tuple = raw

    return lift, lower


def _variant_plan(ty: Any) -> tuple[_Lift, _Lower]:
    tagged = bool(ty._tagged())
    cases: list[tuple[str, _Lift | None, _Lower | None, tuple[type, ...]]] = []
    for name, payload in ty._cases():
        if payload is None:
            cases.append((name, None, None, (object,)))
            continue
        classes: set[type] = set()
        payload.add_classes(classes)
        cases.append((name, *_plan(payload), tuple(classes)))
    variant = wc.Variant

    def lift_case(tag: str, ptr: Any) -> Any:
        for name, case_lift, _, _ in cases:
            if name != tag:
                continue
            if case_lift is None:
                return variant(tag) if tagged else None
            payload = case_lift(ptr.contents)
            _clear(ptr.contents)
            ffi.wasmtime_component_val_delete(ptr)
            return variant(tag, payload) if tagged else payload
        raise ValueError(f"tag {tag} not found in variant cases")

    def lower_case(store: Any, val: Any) -> tuple[str, Any]:
        if tagged and not isinstance(val, variant):
            raise TypeError("expected Variant type")
        for name, _, case_lower, classes in cases:
            if tagged:
                if name != val.tag:
                    continue
            elif case_lower is None:
                if val is not None:
                    continue
            elif not isinstance(val, classes):
                continue
            if case_lower is None:
                return name, None
            raw = _Val()
            case_lower(store, val.payload if tagged else val, ctypes.pointer(raw))
            return name, ffi.wasmtime_component_val_new(byref(raw))
        raise ValueError("value not valid for this variant")

    if isinstance(ty, wc.ResultType):

        def lift(c: Any) -> Any:
            return lift_case("ok" if c.of.result.is_ok else "err", c.of.result.val)

        def lower(store: Any, val: Any, ptr: Any) -> None:
            name, raw = lower_case(store, val)
            ptr.contents.kind = ffi.WASMTIME_COMPONENT_RESULT
            ptr.contents.of.result.is_ok = name == "ok"
            ptr.contents.of.result.val = raw

    elif isinstance(ty, wc.OptionType):

        def lift(c: Any) -> Any:
            return lift_case("some" if c.of.option else "none", c.of.option)

        def lower(store: Any, val: Any, ptr: Any) -> None:
            # lower the payload first: a failure must leave ``ptr`` untouched
            payload = lower_case(store, val)[1]
            ptr.contents.kind = ffi.WASMTIME_COMPONENT_OPTION
            ptr.contents.of.option = payload

    else:

        def lift(c: Any) -> Any:
            tag = ffi.to_str(c.of.variant.discriminant)
            ffi.wasm_byte_vec_delete(byref(c.of.variant.discriminant))
            return lift_case(tag, c.of.variant.val)

        def lower(store: Any, val: Any, ptr: Any) -> None:
            name, raw = lower_case(store, val)
            ptr.contents.kind = ffi.WASMTIME_COMPONENT_VARIANT
            ptr.contents.of.variant.discriminant = ffi.str_to_capi(name)
            ptr.contents.of.variant.val = raw

    return lift, lower


# -- the generic host function callback ----------------------------------------

#: data pointer -> (impl, the import's "interface#function" name)
HOST_FUNCS: dict[int, tuple[Callable[..., Any], str]] = {}
host_func_ids = itertools.count(1)


#: results no awaitable can be: skip ``inspect.isawaitable`` for them
_PLAIN: Final = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})


def _generic_lift(fid: int, args: Any, nargs: int) -> list[Any]:
    plan = _PLANS.get(fid)
    if plan is None:  # the engine builds every plan at load, from a checked type
        raise RuntimeError(f"{HOST_FUNCS[fid][1]} was called before its type was checked")
    return [lift(args[i]) for i, lift in enumerate(plan[0][:nargs])]


def _generic_body(inst: Any, fid: int, lifted: list[Any], results: Any) -> Pending | None:
    impl, name = HOST_FUNCS[fid]
    lower = _PLANS[fid][1]
    result = impl(inst, *lifted)
    if type(result) not in _PLAIN and inspect.isawaitable(result):
        store = inst.store
        return inst.suspend_on(  # type: ignore[no-any-return]
            result, name, lambda value: _lower(lower, store, value, results, name)
        )
    _lower(lower, inst.store, result, results, name)
    return None


def _lower(lower: _Lower | None, store: Any, value: Any, results: Any, name: str) -> None:
    if lower is not None:
        try:
            lower(store, value, results)
        except (TypeError, ValueError) as exc:
            raise ValueOutOfRange(
                f"{name} returned a value its WIT type cannot hold: {exc}"
            ) from None


generic_host_call = async_firewall(_generic_body, _generic_lift)
