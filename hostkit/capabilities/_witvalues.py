"""Values between a guest's WIT call and a pluggy hook, both directions.

The runtime hands the gate each argument in wasmtime-py's representation
(see ``hostkit/runtime/_wittypes.py``) and wants the result back in it.
Hooks see friendlier shapes:

- records arrive as `WitRecord` objects whose attributes are the fields in
  snake_case (the stock records become the dataclasses of ``_host_types``;
  that mapping lives in the gate, which knows which function is which);
- a variant arrives as ``(case, payload)``; an option as the value or None;
- everything else as wasmtime-py gives it (enums as their case name).

A hook's return value is lowered against the WIT result type: records from
any object with the fields as attributes (snake_case or WIT spelling) or a
mapping; enums from a ``str`` or an `enum.Enum` whose value is the case
name; variants from ``(case, payload)``; lists from any iterable.

Errors. A function whose result is ``result<T, E>`` reports failures as an
``E`` value built by `error_value` from a WIT error case and a message, when
``E`` can say it: a variant with that case, an enum with that name, or a
``string`` (``"<case>: <message>"``). `ValueError` otherwise: the gate then
ends the actor instead (``denied`` for a denial, ``host-error`` else).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from ..runtime._wasm import WitRecordValue, WitVariant
from ..runtime._wittypes import WitType

__all__ = ["WitRecord", "error_value", "lift", "lower", "lower_ok", "snake", "supported"]

_INTS = frozenset({"s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"})
_RANGES = {
    "s8": (-(1 << 7), 1 << 7),
    "s16": (-(1 << 15), 1 << 15),
    "s32": (-(1 << 31), 1 << 31),
    "s64": (-(1 << 63), 1 << 63),
    "u8": (0, 1 << 8),
    "u16": (0, 1 << 16),
    "u32": (0, 1 << 32),
    "u64": (0, 1 << 64),
}


def snake(name: str) -> str:
    """A WIT name as a Python identifier: ``modified-ms`` -> ``modified_ms``."""
    return name.lstrip("%").replace("-", "_")


class WitRecord:
    """A WIT record received from a guest: one attribute per field, in
    snake_case. Compares equal to another with the same fields."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WitRecord) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.__dict__)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"WitRecord({inner})"


def supported(ty: WitType) -> bool:
    """Whether values of ``ty`` can cross a host function (no resources,
    streams or futures anywhere inside)."""
    if ty.kind == "other":
        return False
    return (
        all(supported(t) for _, t in ty.fields)
        and all(t is None or supported(t) for _, t in ty.cases)
        and all(supported(t) for t in ty.items)
    )


# -- guest -> hook -------------------------------------------------------------


def lift(ty: WitType, value: Any) -> Any:
    """A wasmtime-py argument value as the hook sees it."""
    kind = ty.kind
    if kind == "record":
        return WitRecord(**{snake(n): lift(t, getattr(value, n)) for n, t in ty.fields})
    if kind == "list":
        if isinstance(value, bytes):
            return value
        (item,) = ty.items
        return [lift(item, v) for v in value]
    if kind == "tuple":
        return tuple(lift(t, v) for t, v in zip(ty.items, value, strict=True))
    if kind == "option":
        if ty.tagged:
            return None if value.tag == "none" else lift(_payload(ty, "some"), value.payload)
        return None if value is None else lift(_payload(ty, "some"), value)
    if kind in ("variant", "result"):
        case, payload = _which_case(ty, value)
        inner = ty.case(case)[1]
        return (case, None if inner is None else lift(inner, payload))
    return value


def _payload(ty: WitType, case: str) -> WitType:
    found = ty.case(case)[1]
    assert found is not None
    return found


def _which_case(ty: WitType, value: Any) -> tuple[str, Any]:
    if ty.tagged:
        return value.tag, value.payload
    for case, payload_ty in ty.cases:
        if payload_ty is None:
            if value is None:
                return case, None
        elif _matches(payload_ty, value):
            return case, value
    raise ValueError(f"value {value!r} fits no case of {ty}")


def _matches(ty: WitType, value: Any) -> bool:
    """Whether an untagged value belongs to ``ty`` (wasmtime-py's rule:
    the cases of an untagged variant differ in Python type)."""
    kind = ty.kind
    if kind == "bool":
        return isinstance(value, bool)
    if kind in _INTS:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("f32", "f64"):
        return isinstance(value, float)
    if kind in ("string", "char", "enum"):
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, bytes if ty.items[0].kind == "u8" else list)
    if kind == "tuple":
        return isinstance(value, tuple)
    if kind == "flags":
        return isinstance(value, set)
    if kind == "record":
        return not isinstance(value, str | int | float | bytes | list | tuple | set | WitVariant)
    if ty.tagged:
        return isinstance(value, WitVariant)
    return any(
        (t is None and value is None) or (t is not None and _matches(t, value)) for _, t in ty.cases
    )


# -- hook -> guest ----------------------------------------------------------------


def lower(ty: WitType, value: Any) -> Any:
    """A hook's Python value as wasmtime-py wants it for ``ty``.

    Raises:
        TypeError: ``value`` does not fit ``ty`` (a provider bug).
    """
    kind = ty.kind
    if kind == "string":
        if isinstance(value, str):
            return str(value)
        raise TypeError(f"expected a str for WIT string, got {type(value).__name__}")
    if kind in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an int for WIT {kind}, got {type(value).__name__}")
        low, high = _RANGES[kind]
        if not low <= value < high:
            raise TypeError(f"{value} is out of range for WIT {kind}")
        return int(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"expected a bool, got {type(value).__name__}")
        return value
    if kind in ("f32", "f64"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a float for WIT {kind}, got {type(value).__name__}")
        return float(value)
    if kind == "enum":
        name = value.value if isinstance(value, enum.Enum) else value
        if not isinstance(name, str) or name not in ty.names:
            raise TypeError(f"{value!r} is not a case of {ty}")
        return str(name)
    if kind == "record":
        out = WitRecordValue()  # wasmtime reads fields by their WIT names
        for name, field_ty in ty.fields:
            setattr(out, name, lower(field_ty, _field(value, name)))
        return out
    if kind == "list":
        (item,) = ty.items
        if item.kind == "u8" and isinstance(value, bytes | bytearray):
            return bytes(value)
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise TypeError(f"expected a sequence for {ty}, got {type(value).__name__}")
        items = [lower(item, v) for v in value]
        return bytes(items) if item.kind == "u8" else items
    if kind == "tuple":
        values = tuple(value)
        if len(values) != len(ty.items):
            raise TypeError(f"expected {len(ty.items)} values for {ty}, got {len(values)}")
        return tuple(lower(t, v) for t, v in zip(ty.items, values, strict=True))
    if kind == "option":
        if value is None:
            return WitVariant("none") if ty.tagged else None
        some = lower(_payload(ty, "some"), value)
        return WitVariant("some", some) if ty.tagged else some
    if kind == "variant":
        case, payload = _case_of(value)
        exists, payload_ty = ty.case(case)
        if not exists:
            raise TypeError(f"{case!r} is not a case of {ty}")
        return _variant(ty, case, None if payload_ty is None else lower(payload_ty, payload))
    if kind == "result":
        case, payload = _case_of(value)
        if case not in ("ok", "err"):
            raise TypeError(f"expected ('ok', v) or ('err', e) for {ty}, got {value!r}")
        payload_ty = ty.case(case)[1]
        return _variant(ty, case, None if payload_ty is None else lower(payload_ty, payload))
    if kind == "flags":
        names = {str(v) for v in value}
        unknown = names - set(ty.names)
        if unknown:
            raise TypeError(f"{sorted(unknown)} are not flags of {ty}")
        return names
    if kind == "char":
        if not isinstance(value, str) or len(value) != 1:
            raise TypeError(f"expected one character, got {value!r}")
        return value
    raise TypeError(f"values of {ty} cannot cross a host function")


def lower_ok(ty: WitType, value: Any) -> Any:
    """The ``ok`` value of the result type ``ty`` carrying ``value`` (a
    result without an ok payload ignores it: hooks answer ``True``)."""
    ok_ty = ty.case("ok")[1]
    return _variant(ty, "ok", None if ok_ty is None else lower(ok_ty, value))


def error_value(ty: WitType, case: str, message: str | None) -> Any:
    """The ``err`` value of the result type ``ty`` for WIT error ``case``.

    Raises:
        ValueError: the err type cannot express ``case``.
    """
    err_ty = ty.case("err")[1]
    if err_ty is None:
        err: Any = None
    elif err_ty.kind == "variant":
        exists, payload_ty = err_ty.case(case)
        if not exists:
            raise ValueError(f"{err_ty} has no case {case!r}")
        payload = None
        if payload_ty is not None:
            payload = lower(payload_ty, message or case) if payload_ty.kind == "string" else None
            if payload is None:
                raise ValueError(f"the payload of case {case!r} of {err_ty} is not a string")
        err = _variant(err_ty, case, payload)
    elif err_ty.kind == "enum" and case in err_ty.names:
        err = case
    elif err_ty.kind == "string":
        err = f"{case}: {message}" if message else case
    else:
        raise ValueError(f"{err_ty} cannot express the error {case!r}")
    return _variant(ty, "err", err)


def _variant(ty: WitType, case: str, payload: Any) -> Any:
    return WitVariant(case, payload) if ty.tagged else payload


def _case_of(value: Any) -> tuple[str, Any]:
    if isinstance(value, WitVariant):
        return value.tag, value.payload
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return value[0], value[1]
    if isinstance(value, str):
        return value, None
    raise TypeError(f"expected (case, payload) for a variant, got {value!r}")


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        return value[snake(name)]
    py = snake(name)
    if hasattr(value, py):
        return getattr(value, py)
    return getattr(value, name)
