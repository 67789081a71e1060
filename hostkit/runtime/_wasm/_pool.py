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
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from . import _capi
from ._arena import ERROR_PREFIX as ARENA_ERROR

__all__ = [
    "MAP_BUDGET",
    "MAP_HEADROOM",
    "MapBudget",
    "PoolSettings",
    "configure_engine",
    "fiber_stacks",
    "pool_fault",
]


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
            # every guest call runs on a fiber stack from the pool, and a
            # Store keeps its last one cached until it is dropped: one per
            # actor, bounded by the kernel's mappings (see fiber_stacks)
            ("total_stacks", fiber_stacks(pool.instances)),
        ):
            setters[name](conf, value)
        _capi.pool_strategy_set(ptr, conf)  # copies the settings
    finally:
        _capi.pool_delete(conf)


#: Mappings left to everything but the pool's fiber stacks.
_STACK_MAP_RESERVE: Final = 16_384


def fiber_stacks(instances: int) -> int:
    """Fiber stacks the pool reserves: one per pooled actor (a Store keeps
    the stack of its last guest call until it is dropped), but each stack's
    guard page is a kernel mapping of its own, two mappings a stack, made
    when the engine is built (wasmtime aborts the process if that fails):
    at most half of what ``vm.max_map_count`` leaves after the mappings the
    process holds now (another pooled host's stacks, say) and
    ``_STACK_MAP_RESERVE``."""
    limit = _max_map_count() or 65_530
    try:
        used = _count_maps()  # another pooled engine in this process holds its own
    except OSError:
        used = 0
    return max(1, min(instances, (limit - used - _STACK_MAP_RESERVE) // 2))


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
    at = text.find(ARENA_ERROR)
    if at >= 0:
        return text[at + len(ARENA_ERROR) :].strip().splitlines()[0]
    found = _EXHAUSTED.search(text)
    if found is not None:
        limit, kind = found.groups()
        if "fiber" in kind:
            return (
                f"the instance pool is full: all {limit} fiber stacks are in use (one per "
                "actor; each stack's guard page is a kernel mapping, so the pool holds at "
                "most half of vm.max_map_count minus 16,384: raise vm.max_map_count, or "
                "stop actors)"
            )
        for needle, field, what in _FIELDS:
            if needle in kind:
                return (
                    f"the instance pool is full: all {limit} {what} slots are in use "
                    f"(HostConfig.{field}={limit}; raise it, or stop actors)"
                )
        return f"the instance pool is full: {found.group(0)}"
    if "Cannot allocate memory" in text or "os error 12" in text:
        cause = "; ".join(ln.strip() for ln in text.strip().splitlines()[-2:] if ln.strip())
        return (
            "the host could not map memory for the instance (out of memory, or out "
            f"of memory mappings: see vm.max_map_count): {cause}"
        )
    return None


# -- the kernel's mapping budget -------------------------------------------------
#: Mappings kept free for everything else the process does (threads, Python's
#: arenas, closing the host): spawns stop this far below vm.max_map_count.
MAP_HEADROOM: Final = 2048
#: The most mappings one spawn is assumed to add between two counts.
_MAPS_PER_SPAWN: Final = 16
#: After a refusal, spawns are refused without counting for this long.
_RECOUNT_AFTER: Final = 0.05


def _max_map_count() -> int | None:
    try:
        with open("/proc/sys/vm/max_map_count", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _count_maps() -> int:
    with open("/proc/self/maps", "rb") as f:
        return f.read().count(b"\n")


class MapBudget:
    """Refuses an instance before the process runs out of kernel memory
    mappings (Linux's ``vm.max_map_count``, 65,530 by default). At that
    ceiling any mmap fails, a new thread's stack included, so a host that
    reached it could not even close; the budget keeps ``MAP_HEADROOM`` free.

    Counting ``/proc/self/maps`` costs about 1 us per mapping (60 ms near
    the default ceiling), so it is counted again only when the spawns since
    the last count could have used up half of what was left, at the
    mappings per spawn measured between the last two counts (at first, and
    at most, ``_MAPS_PER_SPAWN``): a few counts per halving of what is
    left, not one per spawn. Once refused, it refuses without counting for
    ``_RECOUNT_AFTER`` seconds, so a spawn loop at the ceiling costs
    nothing. Not a hard guarantee (other code maps memory too), a margin.
    Without /proc it does nothing.
    """

    def __init__(self, limit: int | None = None, headroom: int = MAP_HEADROOM) -> None:
        self._lock = threading.Lock()
        limit = _max_map_count() if limit is None else limit
        self._ceiling = None if limit is None else max(0, limit - headroom)
        self._limit = limit
        self._counted = 0
        self._since = 0
        self._spare = 0  # spawns allowed before counting again
        self._per_spawn = float(_MAPS_PER_SPAWN)  # measured between counts
        self._refusal: str | None = None
        self._retry_at = 0.0

    def check(self) -> str | None:
        """None if one more instance may map memory, else why not."""
        if self._ceiling is None:
            return None
        with self._lock:
            if self._since < self._spare:
                self._since += 1
                return None
            now = time.monotonic()
            if self._refusal is not None and now < self._retry_at:
                return self._refusal
            try:
                counted = _count_maps()
            except OSError:
                return None
            if self._since and self._refusal is None:
                grown = max(0, counted - self._counted) / self._since
                self._per_spawn = min(float(_MAPS_PER_SPAWN), max(0.25, grown))
            self._counted = counted
            self._since = 0
            left = self._ceiling - counted
            if left <= 0:
                self._spare = 0
                self._retry_at = now + _RECOUNT_AFTER
                self._refusal = (
                    f"the process holds {self._counted:,} memory mappings, near the kernel's "
                    f"limit (vm.max_map_count={self._limit:,}; {MAP_HEADROOM:,} are kept free "
                    "so the host can keep running): stop actors, use the instance pool with "
                    "small slots (HostConfig.pool_instances, max_memory_bytes), or raise "
                    "vm.max_map_count"
                )
                return self._refusal
            self._refusal = None
            self._spare = int(left / (2 * self._per_spawn))
            self._since = 1
            return None


#: One per process: the mapping limit is the process's, whatever the hosts.
MAP_BUDGET: Final = MapBudget()
