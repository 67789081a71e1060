"""How many linear memories and tables a component's core modules define.

wasmtime's store limiter (``wasmtime_store_limiter`` in the C API, checked
against wasmtime 50's ``store.h``) bounds the *size of each* memory and
table and the *number* of them, not their total. The host wants a bound on
the total per instance, so it counts what a component defines at load and
arms ``count`` memories of at most ``total / count`` bytes each (likewise
tables): the store then refuses a memory beyond the count at instantiation
and a growth beyond the share, so the sum can never exceed ``total``.

The count reads the binary (it is validated by wasmtime first): every core
module section, in the component and in nested components, and the memory
and table sections inside it. Imported memories and tables are not new
ones. A module instantiated twice needs two: such a component fails at
spawn with wasmtime's "memory count" error, never with more memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout", "count_layout"]

_CORE_MODULE, _COMPONENT = 1, 4
_TABLE, _MEMORY = 4, 5


@dataclass(frozen=True, slots=True)
class Layout:
    """What a component's core modules define."""

    memories: int
    tables: int


def _leb(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos
        if shift > 35:
            raise ValueError("LEB128 too long")


def _sections(data: memoryview) -> list[tuple[int, memoryview]]:
    out = []
    pos = 8  # magic + version/layer
    while pos < len(data):
        sid = data[pos]
        size, pos = _leb(data, pos + 1)
        if pos + size > len(data):
            raise ValueError("truncated section")
        out.append((sid, data[pos : pos + size]))
        pos += size
    return out


def _count(data: memoryview, depth: int) -> tuple[int, int]:
    if depth > 64:
        raise ValueError("components nested too deeply")
    memories = tables = 0
    for sid, body in _sections(data):
        if sid == _CORE_MODULE:
            for msid, mbody in _sections(body):
                if msid == _MEMORY:
                    memories += _leb(mbody, 0)[0]
                elif msid == _TABLE:
                    tables += _leb(mbody, 0)[0]
        elif sid == _COMPONENT:
            m, t = _count(body, depth + 1)
            memories += m
            tables += t
    return memories, tables


def count_layout(data: bytes) -> Layout:
    """The memories and tables the core modules of a (valid) component define.

    Raises:
        ValueError: the binary is truncated or malformed.
    """
    memories, tables = _count(memoryview(data), 0)
    return Layout(memories, tables)
