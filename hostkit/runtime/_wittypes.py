"""WIT types described in plain Python, for code that binds host functions.

The runtime hands an :data:`~hostkit.runtime._wasm.ImportResolver` the
wasmtime function type of each import it needs; :func:`describe_func` (in
the ``_wasm`` package, which alone speaks wasmtime) turns that into the
immutable :class:`WitFunc` below, so the capability gate can check and
convert values without importing wasmtime. ``str(WitFunc)`` is the exact
text the load-time type checks compare.

Values cross in wasmtime-py's representation:

===========  =================================================================
WIT          Python value
===========  =================================================================
bool, ints   ``bool``, ``int``; floats ``float``; ``char`` a 1-character ``str``
string       ``str``
list<T>      ``list`` (``list<u8>``: ``bytes``)
tuple<...>   ``tuple``
record       an object with one attribute per field, named as in the WIT
             (kebab-case: read with ``getattr(value, "modified-ms")``)
enum         the case name, ``str``
flags        ``set`` of flag names
variant,     *tagged* (``WitType.tagged``): ``Variant(tag, payload)``; else the
option,      payload alone (``None`` for a case without one), told apart by
result       its Python type. ``option<T>``: ``None`` or the value;
             ``result<T, E>``: the ok or the err value, or ``Variant("ok", v)``
             / ``Variant("err", e)`` when T and E look alike in Python.
===========  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WitFunc", "WitType"]


@dataclass(frozen=True, slots=True)
class WitType:
    """One WIT value type.

    Attributes:
        kind: ``bool``, ``s8`` ... ``u64``, ``f32``, ``f64``, ``char``,
            ``string``, ``list``, ``tuple``, ``record``, ``variant``,
            ``enum``, ``option``, ``result``, ``flags``, or ``other``
            (resources, streams, futures: not supported by host functions).
        fields: a record's fields, ``(wit name, type)`` in order.
        cases: a variant's cases, ``(name, payload type or None)``; an
            option's are ``none`` and ``some``, a result's ``ok`` and ``err``.
        names: an enum's cases or a flags type's flags.
        items: a list's element type, or a tuple's element types.
        tagged: variant-like values cross as ``Variant(tag, payload)``.
    """

    kind: str
    fields: tuple[tuple[str, WitType], ...] = ()
    cases: tuple[tuple[str, WitType | None], ...] = ()
    names: tuple[str, ...] = ()
    items: tuple[WitType, ...] = ()
    tagged: bool = False

    def case(self, name: str) -> tuple[bool, WitType | None]:
        """``(exists, payload type)`` of the variant-like case ``name``."""
        for case, payload in self.cases:
            if case == name:
                return True, payload
        return False, None

    def __str__(self) -> str:
        kind = self.kind
        if kind in ("list", "tuple"):
            return f"{kind}<{', '.join(map(str, self.items))}>"
        if kind == "option":
            return f"option<{self.cases[1][1]}>"
        if kind == "result":
            ok, err = (c[1] for c in self.cases)
            return f"result<{ok or '_'}, {err or '_'}>"
        if kind == "record":
            return "record{" + ", ".join(f"{n}: {t}" for n, t in self.fields) + "}"
        if kind == "variant":
            cases = (n if t is None else f"{n}({t})" for n, t in self.cases)
            return "variant{" + ", ".join(cases) + "}"
        if kind in ("enum", "flags"):
            return f"{kind}{{{', '.join(self.names)}}}"
        return kind


@dataclass(frozen=True, slots=True)
class WitFunc:
    """A WIT function's signature: parameters in order, and its result."""

    params: tuple[tuple[str, WitType], ...]
    result: WitType | None

    def __str__(self) -> str:
        params = ", ".join(f"{n}: {t}" for n, t in self.params)
        return f"func({params})" + (f" -> {self.result}" if self.result is not None else "")
