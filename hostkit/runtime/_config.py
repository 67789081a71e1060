"""``HostConfig``: every limit and tuning knob of one host, with safe defaults.

``docs/security.md`` ("The signal path") says what each bound allows at most.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ._wasm import ArenaSettings, Limits, PoolSettings

_MiB = 1024 * 1024
_POOL_MAX = 1_000_000
#: at most half of x86-64's 128 TiB user address space
_POOL_MAX_RESERVATION = 64 * 2**40
#: an arena fiber stack: wasmtime's default async stack size (its guest
#: stack limit, max_wasm_stack, is 512 KiB of it)
_ARENA_STACK = 2 * _MiB


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hostkit")) / "components"


@dataclass(frozen=True)
class HostConfig:
    """Limits and tuning of one host. Every field has a safe default.

    Args:
        scheduler_threads: threads that run guests (wasm releases the GIL).
        batch_size: most envelopes delivered to one actor per activation.
        mailbox_capacity: frames an actor's mailbox holds before senders get
            :class:`~hostkit.MailboxFull`.
        mailbox_max_bytes: bytes (frames with their 41-byte headers) an
            actor's mailbox holds before senders get ``MailboxFull``.
        mailbox_system_reserve: extra frames a mailbox takes for *system*
            frames (DOWN, trapped exits, undeliverable and spawn reports)
            past ``mailbox_capacity``; an actor whose reserve is full too is
            ended with reason ``limit``.
        host_mailbox_bytes: bytes queued in all mailboxes of the host
            together; past it every send is refused with ``MailboxFull``.
        outbox_max_frames: frames one activation's outbox may hold; past it
            the actor ends with reason ``limit``. Default ``8 * batch_size``.
        outbox_max_bytes: bytes one activation's outbox may hold; past it
            nothing in it is routed and the actor ends with reason ``limit``.
        max_actors: live actors in the host; spawns past it fail.
        max_actors_per_plugin: live actors of one component; spawns past it fail.
        max_spawn_depth: longest chain of guest spawns (an actor spawned by
            host code is at depth 0, its guest-spawned child at 1, ...).
        max_message_size: largest payload in bytes (UTF-8).
        max_timers_per_actor: pending timers (``Host.send_after`` and the
            guest's own ``t`` frames together) aimed at one actor; past it a
            new one is refused. Their messages also count against
            ``host_mailbox_bytes``.
        activation_timeout: wall-clock seconds one guest call may run
            (init, a delivery, terminate) before it is ended with ``deadline``.
        fuel_per_activation: fuel (roughly wasm instructions) per guest call;
            ``None`` turns fuel metering off (epoch deadlines still apply).
        host_call_budget: host imports one activation may make.
        max_memory_bytes / max_table_elements / max_instances / max_tables /
            max_memories: per-Store limits, armed before instantiation.
        max_component_bytes: components larger than this are refused unread.
        tick_seconds: epoch tick; bounds how fast a kill or deadline lands.
        slice_seconds: preemption slice: after this much wall-clock time
            in wasm, an activation gives its scheduler thread back and its
            actor goes to the back of the run queue (its call resumes
            later, possibly on another thread). A guest spinning in wasm
            then delays others by about one slice per thread. The epoch
            ticks at least this often. Must not exceed
            ``activation_timeout``. See docs/concepts.md, "Scheduling".
        max_pending_host_calls: guest calls suspended at once, host-wide,
            in host functions that returned an awaitable (each runs as a
            Trio task; an actor has at most one). The call that would pass
            it ends its actor with reason ``limit``.
        cache_dir: compiled-component cache (a path or ``str``); ``None``
            disables it.
        wasi: offer an *empty* WASI (no env, args, preopens, network) to guests
            that import it, e.g. componentize-py guests.
        shutdown_timeout: seconds closing the host waits for actors'
            ``terminate`` before killing them.
        exit_history: exit reasons remembered for :meth:`Host.wait` after exit.
        node_name: this host's node name, carried by every pid it hands out.
        compile_cpu_seconds / compile_memory_bytes: CPU time and address space
            of the worker process that compiles one component.
        max_compiled_bytes: largest compiled code a component may produce.
        max_blocking_compile_bytes: largest component a sync :meth:`Host.load`
            compiles on the Trio thread (blocking it); bigger ones need
            :meth:`Host.load_async`. Cached or already loaded ones never do.
        cache_key_file: the key authenticating the compile cache (a path or
            ``str``); by default ``<cache_dir>.key``, next to (never inside)
            ``cache_dir``. See docs/reference/limits.md.
        pool_instances: actors the instance pool holds at once; ``0`` (the
            default) turns the pool off and every instance maps its own
            memory. With a pool, a spawn past it fails with ``SpawnError``
            naming this field. See docs/concepts.md, "The instance pool".
        pool_core_instances / pool_memories / pool_tables: core-module
            instances, linear memories and tables the pool holds across all
            actors; ``None``: 16, 1 and 2 per ``pool_instances`` (a
            componentize-py guest uses 14, 1 and 2; a WAT guest 2, 1, 0-1). Each memory
            slot reserves ``max_memory_bytes`` of address space (not RAM)
            when the host starts, with no guard region: pooled guests check
            every memory access explicitly.
        pool_memory_cow: start each linear memory as a copy-on-write
            mapping of the component's data image (fast spawn, pages shared
            until written) instead of copying the data in.
        arena: take fiber stacks and linear memories from hostkit's arena
            instead of wasmtime's allocators: an idle actor then holds no
            kernel memory mapping of its own (the kernel allows
            ``vm.max_map_count``, 65,530 by default, per process), so a host
            holds 100,000+ tiny actors. Each linear memory is a slot of
            ``max_memory_bytes`` of address space (set it small) checked
            explicitly on every access; not with ``pool_instances``. See
            docs/concepts.md, "The arena".
        arena_resident_stacks: idle fiber stacks the arena keeps mapped (the
            most recently used; entering one costs no system call). Past
            it, an idle actor's stack loses its mapping (two ``mprotect``
            calls when it runs again). A call in flight always keeps its own.
    """

    scheduler_threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    batch_size: int = 64
    mailbox_capacity: int = 10_000
    mailbox_max_bytes: int = 16 * _MiB
    mailbox_system_reserve: int = 1_000
    host_mailbox_bytes: int = 512 * _MiB
    outbox_max_frames: int | None = None
    outbox_max_bytes: int = 16 * _MiB
    max_actors: int = 16_384
    max_actors_per_plugin: int = 10_000
    max_spawn_depth: int = 16
    max_message_size: int = 1 * _MiB
    max_timers_per_actor: int = 1_000
    activation_timeout: float = 2.0
    fuel_per_activation: int | None = 2_000_000_000
    host_call_budget: int = 10_000
    max_memory_bytes: int = 256 * _MiB
    max_table_elements: int = 100_000
    max_instances: int = 64
    max_tables: int = 64
    max_memories: int = 16
    max_component_bytes: int = 64 * _MiB
    tick_seconds: float = 0.01
    slice_seconds: float = 0.005
    max_pending_host_calls: int = 10_000
    cache_dir: Path | str | None = field(default_factory=_default_cache_dir)
    wasi: bool = True
    shutdown_timeout: float = 1.0
    exit_history: int = 100_000
    node_name: str = "nonode@nohost"
    compile_cpu_seconds: int = 120
    compile_memory_bytes: int = 4096 * _MiB
    max_compiled_bytes: int = 512 * _MiB
    max_blocking_compile_bytes: int = 256 * 1024
    cache_key_file: Path | str | None = None
    pool_instances: int = 0
    pool_core_instances: int | None = None
    pool_memories: int | None = None
    pool_tables: int | None = None
    pool_memory_cow: bool = True
    arena: bool = False
    arena_resident_stacks: int = 1024

    def __post_init__(self) -> None:
        self._check_pool()
        positive = (
            "scheduler_threads",
            "batch_size",
            "mailbox_capacity",
            "mailbox_max_bytes",
            "host_mailbox_bytes",
            "outbox_max_bytes",
            "max_actors",
            "max_actors_per_plugin",
            "max_spawn_depth",
            "max_message_size",
            "max_timers_per_actor",
            "activation_timeout",
            "host_call_budget",
            "max_memory_bytes",
            "max_instances",
            "max_component_bytes",
            "tick_seconds",
            "slice_seconds",
            "max_pending_host_calls",
            "exit_history",
            "compile_cpu_seconds",
            "compile_memory_bytes",
            "max_compiled_bytes",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"HostConfig.{name} must be a positive number, got {value!r}")
        if not isinstance(self.mailbox_system_reserve, int) or self.mailbox_system_reserve < 0:
            raise ValueError("HostConfig.mailbox_system_reserve must be an int >= 0")
        if self.outbox_max_frames is not None and self.outbox_max_frames <= 0:
            raise ValueError("HostConfig.outbox_max_frames must be positive or None")
        if self.fuel_per_activation is not None and self.fuel_per_activation <= 0:
            raise ValueError("HostConfig.fuel_per_activation must be positive or None")
        if self.tick_seconds > self.activation_timeout:
            raise ValueError("HostConfig.tick_seconds must not exceed activation_timeout")
        if self.slice_seconds > self.activation_timeout:
            raise ValueError(
                f"HostConfig.slice_seconds ({self.slice_seconds}) must not exceed "
                f"activation_timeout ({self.activation_timeout})"
            )
        if not isinstance(self.max_pending_host_calls, int):
            raise ValueError("HostConfig.max_pending_host_calls must be an int")
        if not isinstance(self.node_name, str) or not self.node_name or "\n" in self.node_name:
            raise ValueError(
                f"HostConfig.node_name must be a one-line name, got {self.node_name!r}"
            )
        if self.cache_dir is not None and not isinstance(self.cache_dir, Path):
            if not isinstance(self.cache_dir, str | os.PathLike):
                raise TypeError(
                    f"HostConfig.cache_dir must be a path, a str or None, got {self.cache_dir!r}"
                )
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        if not isinstance(self.max_blocking_compile_bytes, int) or (
            self.max_blocking_compile_bytes < 0
        ):
            raise ValueError("HostConfig.max_blocking_compile_bytes must be an int >= 0")
        if self.cache_key_file is not None and not isinstance(self.cache_key_file, Path):
            if not isinstance(self.cache_key_file, str | os.PathLike):
                raise TypeError(
                    "HostConfig.cache_key_file must be a path, a str or None, "
                    f"got {self.cache_key_file!r}"
                )
            object.__setattr__(self, "cache_key_file", Path(self.cache_key_file))

    def _check_pool(self) -> None:
        if isinstance(self.pool_instances, bool) or not isinstance(self.pool_instances, int):
            raise TypeError(
                f"HostConfig.pool_instances must be an int, got {self.pool_instances!r}"
            )
        if not 0 <= self.pool_instances <= _POOL_MAX:
            raise ValueError(
                f"HostConfig.pool_instances must be 0 (no pool) to {_POOL_MAX:,}, "
                f"got {self.pool_instances!r}"
            )
        for name in ("pool_core_instances", "pool_memories", "pool_tables"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _POOL_MAX:
                raise ValueError(
                    f"HostConfig.{name} must be None or an int from 1 to {_POOL_MAX:,}, "
                    f"got {value!r}"
                )
        if not isinstance(self.pool_memory_cow, bool):
            raise TypeError("HostConfig.pool_memory_cow must be a bool")
        if not isinstance(self.arena, bool):
            raise TypeError(f"HostConfig.arena must be a bool, got {self.arena!r}")
        if self.arena and self.pool_instances:
            raise ValueError(
                "HostConfig.arena and pool_instances exclude each other (the arena "
                "replaces wasmtime's pooling allocator): set one of them"
            )
        res = self.arena_resident_stacks
        if isinstance(res, bool) or not isinstance(res, int) or not 0 <= res <= _POOL_MAX:
            raise ValueError(
                f"HostConfig.arena_resident_stacks must be an int from 0 to {_POOL_MAX:,}, "
                f"got {res!r}"
            )
        pool = self.pool()
        if pool is not None and self.pool_reservation_bytes() > _POOL_MAX_RESERVATION:
            raise ValueError(
                f"the instance pool would reserve {self.pool_reservation_bytes() / 2**40:.1f} "
                f"TiB of address space (pool_memories={pool.memories:,} x (max_memory_bytes="
                f"{self.max_memory_bytes:,}); the limit is "
                f"{_POOL_MAX_RESERVATION // 2**40} TiB: lower pool_memories or max_memory_bytes"
            )

    def arena_settings(self) -> ArenaSettings | None:
        """The arena's settings; None: no arena."""
        if not self.arena:
            return None
        return ArenaSettings(
            memory_bytes=self.max_memory_bytes,
            stack_bytes=_ARENA_STACK,
            resident=self.arena_resident_stacks,
            max_slots=self.max_actors * self.max_memories,
        )

    def pool(self) -> PoolSettings | None:
        """The instance pool's settings, defaults resolved; None: no pool."""
        n = self.pool_instances
        if not n:
            return None
        return PoolSettings(
            instances=n,
            core_instances=min(_POOL_MAX, self.pool_core_instances or 16 * n),
            memories=min(_POOL_MAX, self.pool_memories or n),
            tables=min(_POOL_MAX, self.pool_tables or 2 * n),
            memory_bytes=self.max_memory_bytes,
            table_elements=self.max_table_elements,
            per_component_instances=self.max_instances,
            per_component_memories=self.max_memories,
            per_component_tables=self.max_tables,
            memory_cow=self.pool_memory_cow,
        )

    def pool_reservation_bytes(self) -> int:
        """Address space the pool's memory slots reserve (0: no pool)."""
        pool = self.pool()
        if pool is None:
            return 0
        return pool.memories * self.max_memory_bytes

    def limits(self) -> Limits:
        return Limits(
            memory_bytes=self.max_memory_bytes,
            table_elements=self.max_table_elements,
            instances=self.max_instances,
            tables=self.max_tables,
            memories=self.max_memories,
        )

    @property
    def fuel(self) -> int:
        return self.fuel_per_activation or 0

    @property
    def outbox_frames(self) -> int:
        """``outbox_max_frames``, its default resolved."""
        return self.outbox_max_frames or 8 * self.batch_size
