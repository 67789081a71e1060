"""wasmtime-py's component types as hostkit's plain `WitFunc`/`WitType`."""

from __future__ import annotations

from typing import Any, Final

from wasmtime import component as wc

from .._wittypes import WitFunc, WitType

__all__ = ["WitRecordValue", "WitVariant", "describe_func"]

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
        tuple((name, describe(ty)) for name, ty in func_type.params),
        None if result is None else describe(result),
    )


def describe(ty: Any) -> WitType:
    """One wasmtime component value type as a `WitType`."""
    kind = _PRIMITIVES.get(type(ty))
    if kind is not None:
        return WitType(kind)
    if isinstance(ty, wc.ListType):
        return WitType("list", items=(describe(ty.element),))
    if isinstance(ty, wc.TupleType):
        return WitType("tuple", items=tuple(describe(t) for t in ty.elements))
    if isinstance(ty, wc.RecordType):
        return WitType("record", fields=tuple((n, describe(t)) for n, t in ty.fields))
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
        cases = tuple((n, None if t is None else describe(t)) for n, t in ty._cases())
        return WitType(kind, cases=cases, tagged=bool(ty._tagged()))
    return WitType("other")
