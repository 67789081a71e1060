"""The instance pool: wasmtime's pooling allocator, sized from HostConfig.

With the pool on, the engine reserves, once, a slot for every linear memory
and table the host may ever hold at a time, and instantiating takes a free
slot instead of asking the kernel for fresh mappings; a linear memory starts
as a copy-on-write mapping of the component's data image (``memory_cow``).
When every slot of a kind is taken, instantiating fails with wasmtime's
"maximum concurrent ... limit" error, which :func:`pool_fault` turns into a
message naming the HostConfig field to raise.

A memory slot is exactly ``memory_bytes`` of address space: the memory
reservation is that size and there is no guard region, so compiled code
checks every memory access explicitly (it cannot elide checks against a
guard) and a guest fully using a small slot shares one kernel mapping with
its neighbours. Compiled code depends on the reservation, the guard and
``memory_init_cow``: they go into the compile cache's fingerprint and to
the compile worker (see ``_cache``, ``_worker``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from . import _capi

__all__ = ["PoolSettings", "configure_engine", "pool_fault"]


@dataclass(frozen=True)
class PoolSettings:
    """How many of each thing the pool holds at once, and the slot sizes.

    ``instances`` is the number of component instances (one per live actor);
    ``core_instances``, ``memories`` and ``tables`` count the core modules'
    instances, linear memories and tables across all of them. A memory slot
    is ``memory_bytes`` of address space; a
    table slot holds ``table_elements``. The per-component caps bound what
    one component may define (checked at load as well, see ``Limits``).
    """

    instances: int
    core_instances: int
    memories: int
    tables: int
    memory_bytes: int
    table_elements: int
    per_component_instances: int
    per_component_memories: int
    per_component_tables: int
    memory_cow: bool = True

    @property
    def fingerprint(self) -> str:
        """What compiled code depends on among these settings."""
        return f"pool-res{self.memory_bytes}-guard0-cow{int(self.memory_cow)}"


def configure_engine(cfg: Any, pool: PoolSettings) -> None:
    """Switch ``cfg`` (a ``wasmtime.Config``) to the pooling allocator."""
    ptr = cfg.ptr()
    _capi.config_memory_reservation(ptr, pool.memory_bytes)
    _capi.config_memory_guard_size(ptr, 0)
    _capi.config_memory_init_cow(ptr, pool.memory_cow)
    conf = _capi.pool_new()
    try:
        setters = _capi.POOL_SETTERS
        for name, value in (
            ("total_component_instances", pool.instances),
            ("total_core_instances", pool.core_instances),
            ("total_memories", pool.memories),
            ("total_tables", pool.tables),
            ("max_core_instances_per_component", pool.per_component_instances),
            ("max_memories_per_component", pool.per_component_memories),
            ("max_tables_per_component", pool.per_component_tables),
            ("max_memories_per_module", pool.per_component_memories),
            ("max_tables_per_module", pool.per_component_tables),
            ("max_memory_size", pool.memory_bytes),
            ("table_elements", pool.table_elements),
        ):
            setters[name](conf, value)
        _capi.pool_strategy_set(ptr, conf)  # copies the settings
    finally:
        _capi.pool_delete(conf)


#: wasmtime's pool-exhaustion message: "maximum concurrent limit of N for
#: component instances reached" (or "core instances", "memory stripe 0",
#: "tables")
_EXHAUSTED: Final = re.compile(r"maximum concurrent limit of (\d+) for ([\w ]+?) reached")
_FIELDS: Final = (
    ("component instance", "pool_instances", "component instance"),
    ("core instance", "pool_core_instances", "core instance"),
    ("memor", "pool_memories", "linear memory"),
    ("table", "pool_tables", "table"),
)


def pool_fault(text: str) -> str | None:
    """A clear message if ``text`` (wasmtime's error) says a pool or the
    kernel's mapping budget ran out, else None."""
    found = _EXHAUSTED.search(text)
    if found is not None:
        limit, kind = found.groups()
        for needle, field, what in _FIELDS:
            if needle in kind:
                return (
                    f"the instance pool is full: all {limit} {what} slots are in use "
                    f"(HostConfig.{field}={limit}; raise it, or stop actors)"
                )
        return f"the instance pool is full: {found.group(0)}"
    if "Cannot allocate memory" in text or "os error 12" in text:
        return (
            "the host could not map memory for the instance (os error 12: out of "
            "memory or out of memory mappings, see vm.max_map_count)"
        )
    return None
