"""The arena: fiber stacks and linear memories from hostkit's own mappings.

wasmtime's pooling allocator gives every fiber stack a guard page of its
own, a kernel mapping made when the engine is built, two mappings a stack
whether used or not; and a Store keeps the stack of its last guest call
until it is dropped. With ``vm.max_map_count`` at its default of 65,530
that caps a host at about 24,000 actors whatever their size. The arena
(``HostConfig.arena``) uses wasmtime's on-demand allocator with two
creators of hostkit's own instead:

- **Stacks** (``wasmtime_config_host_stack_creator_set``). Each stack is a
  slot in a large reservation made ``PROT_NONE`` once: ``_STACK_GUARD``
  bytes that are never made accessible, then the stack. A stack is made
  readable and writable when its Store's first guest call needs it and made
  ``PROT_NONE`` again (its pages returned to the kernel) once it has been
  idle while ``resident`` other stacks were used after it: an idle actor's
  stack costs no mapping and no memory, the ``resident`` most recently used
  idle ones cost no system call to enter, and a call in flight (running,
  yielded or suspended) always keeps its stack. The guard below each stack
  is never accessible, so a stack overflow in host code on a fiber faults
  instead of writing into a neighbour's stack.
- **Linear memories** (``wasmtime_config_host_memory_creator_set``). Each
  memory is a slot of ``slot_bytes`` in one large readable and writable
  ``MAP_NORESERVE`` mapping: slots of live actors share that one kernel
  mapping, and an untouched page costs nothing. The engine is configured
  with a memory reservation of exactly the slot and no guard region, so
  compiled code checks every access explicitly against the memory's
  current size (its own slot's bounds at the most); growing past the slot
  fails as a guest ``memory.grow`` returning -1. A freed slot's pages are
  returned to the kernel, so the next memory in it starts zeroed.

Both creators are called by wasmtime with the GIL released (from a poll of a
guest call, or the Store's deletion on the reaper thread): they are ctypes
callbacks that take the GIL, never raise into wasmtime (a failure is a
``wasmtime_error_t`` naming what ran out) and do a few dictionary
operations and at most two system calls.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import mmap
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from wasmtime import _ffi as ffi

from . import _capi
from ._guard import TLS

__all__ = ["ERROR_PREFIX", "Arena", "ArenaExhausted", "ArenaSettings", "configure_arena"]

_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_mprotect = _libc.mprotect
_mprotect.restype = ctypes.c_int
_mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_madvise = _libc.madvise
_madvise.restype = ctypes.c_int
_madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_munmap = _libc.munmap
_munmap.restype = ctypes.c_int
_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

_PROT_NONE: Final = 0
_PROT_RW: Final = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_FLAGS: Final = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000  # MAP_NORESERVE
_MAP_FAILED: Final = ctypes.c_void_p(-1).value
_MADV_DONTNEED: Final = 4
PAGE: Final = mmap.PAGESIZE

#: Never-accessible bytes below every fiber stack.
_STACK_GUARD: Final = 64 * 1024
#: Slots reserved at a time (one mapping each, until slots in it are used).
_STACK_CHUNK: Final = 1024
_MEMORY_CHUNK: Final = 4096
_MEMORY_CHUNK_BYTES: Final = 64 * 2**30  # address space, not memory
#: How errors from the arena start (``_pool.pool_fault`` recognises them).
ERROR_PREFIX: Final = "hostkit arena: "


class ArenaExhausted(Exception):
    """The arena could not reserve more address space."""


def _round(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _reserve(size: int, prot: int) -> int:
    """``size`` bytes of address space with ``prot``, as one mapping.

    The mapping is made readable and writable, one page of it is touched
    (the kernel then gives the whole mapping one ``anon_vma``) and only then
    it gets ``prot``. Every piece that ``mprotect`` later splits off shares
    that ``anon_vma`` and those flags, so an idle stack made ``PROT_NONE``
    merges back into its neighbours. Measured (``bench_density.py --arena
    --warm``): made ``PROT_NONE`` from the start, 0.97 mappings per idle
    actor; writable first but untouched, 0.35 at 120,000 actors; touched
    first, 0.018."""
    addr = _mmap(None, size, _PROT_RW, _MAP_FLAGS, -1, 0)
    if addr is None or addr == _MAP_FAILED:
        err = ctypes.get_errno()
        raise ArenaExhausted(
            f"could not reserve {size:,} bytes of address space ({os.strerror(err)}; "
            "is the process's address space capped, e.g. by ulimit -v?)"
        )
    ctypes.c_char.from_address(addr).value = b"\x01"
    _madvise(addr, PAGE, _MADV_DONTNEED)
    if prot != _PROT_RW and _mprotect(addr, size, prot) != 0:
        _munmap(addr, size)
        raise ArenaExhausted(f"could not protect {size:,} bytes of address space")
    return int(addr)


class _Slots:
    """Fixed-size slots carved from chunks reserved on demand."""

    def __init__(self, slot: int, per_chunk: int, prot: int, cap: int) -> None:
        self.slot = slot
        self.per_chunk = per_chunk
        self.prot = prot
        self.cap = cap
        self.chunks: list[int] = []
        self.free: list[int] = []
        self.next = 0
        self.live = 0

    def alloc(self) -> int:
        if self.free:
            self.live += 1
            return self.free.pop()
        if self.next >= self.cap:
            raise ArenaExhausted(f"all {self.cap:,} slots are in use")
        if self.next == len(self.chunks) * self.per_chunk:
            self.chunks.append(_reserve(self.slot * self.per_chunk, self.prot))
        s = self.next
        self.next += 1
        self.live += 1
        return s

    def base(self, s: int) -> int:
        return self.chunks[s // self.per_chunk] + (s % self.per_chunk) * self.slot

    def release(self, s: int) -> None:
        self.live -= 1
        self.free.append(s)

    def unmap(self) -> None:
        size = self.slot * self.per_chunk
        for addr in self.chunks:
            _munmap(addr, size)
        self.chunks.clear()


class StackMemory(ctypes.Structure):
    """``wasmtime_stack_memory_t``."""

    _fields_ = [
        ("env", ctypes.c_void_p),
        ("get_stack_memory", ctypes.c_void_p),
        ("finalizer", ctypes.c_void_p),
    ]


class StackCreator(ctypes.Structure):
    """``wasmtime_stack_creator_t``."""

    _fields_ = [
        ("env", ctypes.c_void_p),
        ("new_stack", ctypes.c_void_p),
        ("finalizer", ctypes.c_void_p),
    ]


class LinearMemory(ctypes.Structure):
    """``wasmtime_linear_memory_t``."""

    _fields_ = [
        ("env", ctypes.c_void_p),
        ("get_memory", ctypes.c_void_p),
        ("grow_memory", ctypes.c_void_p),
        ("finalizer", ctypes.c_void_p),
    ]


class MemoryCreator(ctypes.Structure):
    """``wasmtime_memory_creator_t``."""

    _fields_ = [
        ("env", ctypes.c_void_p),
        ("new_memory", ctypes.c_void_p),
        ("finalizer", ctypes.c_void_p),
    ]


_SIZE_P = ctypes.POINTER(ctypes.c_size_t)
_memmove = ctypes.memmove
_pack3 = struct.Struct("=3Q").pack  # three pointers, as the C structs lay them out
_pack4 = struct.Struct("=4Q").pack
_NewStack = ctypes.CFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_bool, ctypes.c_void_p
)
_GetStack = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, _SIZE_P)
_Free = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_NewMemory = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_void_p,
)
_GetMemory = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, _SIZE_P, _SIZE_P)
_GrowMemory = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)

_set_stack_creator = ffi.dll.wasmtime_config_host_stack_creator_set
_set_stack_creator.restype = None
_set_stack_creator.argtypes = [ctypes.c_void_p, ctypes.POINTER(StackCreator)]
_set_memory_creator = ffi.dll.wasmtime_config_host_memory_creator_set
_set_memory_creator.restype = None
_set_memory_creator.argtypes = [ctypes.c_void_p, ctypes.POINTER(MemoryCreator)]


def _error(message: str) -> int:
    return int(_capi.error_new((ERROR_PREFIX + message).encode()) or 0)


class Arena:
    """Stacks and linear memories of one engine (see the module doc).

    ``stack_bytes`` is the engine's async stack size; ``slot_bytes`` the
    most one linear memory may hold (``HostConfig.max_memory_bytes``);
    ``resident`` how many idle stacks stay mapped (most recently used);
    ``max_slots`` bounds each kind (memories and stacks alive at once).
    """

    def __init__(self, stack_bytes: int, slot_bytes: int, resident: int, max_slots: int) -> None:
        self.stack_bytes = _round(stack_bytes, PAGE)
        self.slot_bytes = _round(slot_bytes, 64 * 1024)
        self.resident = resident
        self._lock = threading.Lock()
        self._stacks = _Slots(_STACK_GUARD + self.stack_bytes, _STACK_CHUNK, _PROT_NONE, max_slots)
        per_chunk = max(1, min(_MEMORY_CHUNK, _MEMORY_CHUNK_BYTES // self.slot_bytes))
        self._memories = _Slots(self.slot_bytes, per_chunk, _PROT_RW, max_slots)
        self._owner: dict[int, int] = {}  # stack slot -> owner token (0: none)
        self._mapped: set[int] = set()  # stack slots readable and writable now
        self._idle: OrderedDict[int, None] = OrderedDict()  # mapped, not in use: LRU
        self._sizes: dict[int, int] = {}  # memory slot -> current byte size
        self.stack_maps = 0  # mprotect calls that mapped a stack (diagnostics)
        # the callbacks must live as long as the engine (wasmtime holds them)
        self._cbs = (
            _NewStack(self._new_stack),
            _GetStack(self._get_stack),
            _Free(self._free_stack),
            _NewMemory(self._new_memory),
            _GetMemory(self._get_memory),
            _GrowMemory(self._grow_memory),
            _Free(self._free_memory),
        )
        self._addr = [ctypes.cast(cb, ctypes.c_void_p).value for cb in self._cbs]
        # wasmtime holds the callbacks for as long as any Store of the engine
        # lives, and a Store caught in a reference cycle is deleted by the
        # garbage collector, possibly while the interpreter shuts down,
        # after module globals are gone (measured: a segfault at exit after
        # 120,000 actors). So an Arena is never freed: one reference is
        # leaked on purpose, and the finalizers use only what hangs off it.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self))
        self._madvise = _madvise
        self._mprotect = _mprotect
        self._log = logging.getLogger("hostkit.runtime")
        self._quiet = contextlib.suppress  # kept: module globals go first at exit

    # -- engine ------------------------------------------------------------------
    def install(self, config_ptr: Any) -> None:
        """Set both creators on a ``wasm_config_t`` (copied by wasmtime)."""
        stack = StackCreator(None, self._addr[0], None)
        _set_stack_creator(config_ptr, ctypes.byref(stack))
        memory = MemoryCreator(None, self._addr[3], None)
        _set_memory_creator(config_ptr, ctypes.byref(memory))

    def close(self) -> None:
        """Unmap the arena once nothing in it is alive. Else it stays mapped
        and its callbacks stay referenced for the life of the process: a
        Store not yet deleted still points into it, and wasmtime calls the
        finalizers when it is."""
        with self._lock:
            if self._stacks.live == 0 and self._memories.live == 0:
                self._stacks.unmap()
                self._memories.unmap()
                # the mappings are gone; the (small) object stays: see __init__

    # -- stacks ------------------------------------------------------------------
    def _stack_base(self, s: int) -> int:
        return self._stacks.base(s) + _STACK_GUARD

    def _map_stack(self, s: int) -> bool:
        if _mprotect(self._stack_base(s), self.stack_bytes, _PROT_RW) != 0:
            return False
        self._mapped.add(s)
        self.stack_maps += 1
        return True

    def _unmap_stack(self, s: int) -> None:
        # Only access is revoked: the contents stay (wasmtime relies on the
        # top of a Store's cached stack across its calls; measured: returning
        # the pages to the kernel while the Store lives crashes its next call).
        _mprotect(self._stack_base(s), self.stack_bytes, _PROT_NONE)
        self._mapped.discard(s)

    def _new_stack(self, env: Any, size: int, zeroed: bool, ret: Any) -> int | None:
        try:
            if size > self.stack_bytes:
                return _error(
                    f"fiber stack of {size} bytes asked, the arena's are {self.stack_bytes}"
                )
            inst = getattr(TLS, "inst", None)
            owner = 0 if inst is None else inst.guard_id
            with self._lock:
                s = self._stacks.alloc()
                if not self._map_stack(s):
                    self._stacks.release(s)
                    return _error(
                        "could not map a fiber stack (out of memory mappings: see vm.max_map_count)"
                    )
                self._owner[s] = owner
            if inst is not None:
                inst.stacks.append(s)
            # the wasmtime_stack_memory_t wasmtime passed: env, get, finalizer
            _memmove(ret, _pack3(s + 1, self._addr[1], self._addr[2]), 24)
            return None
        except ArenaExhausted as exc:
            return _error(f"no fiber stack for the instance: {exc}")
        except BaseException as exc:  # never into wasmtime
            return _error(f"fiber stack: {exc!r}")

    def _get_stack(self, env: Any, out_len: Any) -> int:
        out_len[0] = self.stack_bytes
        return self._stack_base(int(env) - 1) + self.stack_bytes

    def _free_stack(self, env: Any) -> None:
        try:
            s = int(env) - 1
            with self._lock:  # no longer anyone's: nothing maps or unmaps it now
                self._owner.pop(s, None)
                self._idle.pop(s, None)
                mapped = s in self._mapped
                self._mapped.discard(s)
                base = self._stack_base(s)
            # the system calls outside the lock (a 2 MiB madvise is ~15 us,
            # mostly the TLB flush): spawns on other threads do not wait
            self._madvise(base, self.stack_bytes, 4)  # MADV_DONTNEED: the next owner starts zeroed
            if mapped:
                self._mprotect(base, self.stack_bytes, 0)  # PROT_NONE
            with self._lock:
                self._stacks.release(s)
        except BaseException:  # never into wasmtime; a slot not freed is logged
            self._report("freeing a fiber stack")

    def enter(self, token: int, slots: list[int]) -> bool:
        """Map the stacks of the instance ``token`` before a guest call
        (no system call if they are among the resident idle ones). False
        if one could not be mapped (out of mappings): do not start the call."""
        owner = self._owner
        with self._lock:
            for s in slots:
                if owner.get(s) != token:
                    continue  # freed meanwhile (the call was dropped)
                if s in self._idle:
                    del self._idle[s]  # idle and still mapped: in use again
                elif s not in self._mapped and not self._map_stack(s):
                    return False
        return True

    def pin(self, token: int, slots: list[int]) -> bool:
        """Map the stacks of the instance ``token`` for good before its
        Store is deleted (wasmtime touches a Store's cached stack as it
        deletes it); its finalizer releases them. False: one could not be
        mapped, and the Store must not be deleted."""
        return self.enter(token, slots)

    def leave(self, token: int, slots: list[int]) -> None:
        """The instance ``token``'s call is over: its stacks become idle;
        the least recently used idle stacks past ``resident`` are unmapped."""
        owner = self._owner
        idle = self._idle
        with self._lock:
            kept = [s for s in slots if owner.get(s) == token]
            for s in kept:
                idle[s] = None
                idle.move_to_end(s)
            while len(idle) > self.resident:
                s, _ = idle.popitem(last=False)
                self._unmap_stack(s)
        if len(kept) != len(slots):
            slots[:] = kept

    # -- memories ----------------------------------------------------------------
    def _new_memory(
        self,
        env: Any,
        ty: Any,
        minimum: int,
        maximum: int,
        reserved: int,
        guard: int,
        ret: Any,
    ) -> int | None:
        try:
            if minimum > self.slot_bytes:
                return _error(
                    f"a linear memory of {minimum:,} bytes does not fit the arena's "
                    f"{self.slot_bytes:,}-byte slots (HostConfig.max_memory_bytes)"
                )
            with self._lock:
                s = self._memories.alloc()
                self._sizes[s] = minimum
            # the wasmtime_linear_memory_t: env, get, grow, finalizer
            _memmove(ret, _pack4(s + 1, self._addr[4], self._addr[5], self._addr[6]), 32)
            return None
        except ArenaExhausted as exc:
            return _error(f"no linear memory slot for the instance: {exc}")
        except BaseException as exc:  # never into wasmtime: an error it reports
            return _error(f"linear memory: {exc!r}")

    def _get_memory(self, env: Any, size: Any, capacity: Any) -> int:
        s = int(env) - 1
        size[0] = self._sizes.get(s, 0)
        capacity[0] = self.slot_bytes
        return self._memories.base(s)

    def _grow_memory(self, env: Any, new_size: int) -> int | None:
        try:
            if new_size > self.slot_bytes:
                return _error(
                    f"memory would be {new_size:,} bytes, the slot is {self.slot_bytes:,}"
                )
            self._sizes[int(env) - 1] = new_size
            return None
        except BaseException as exc:  # never into wasmtime: an error it reports
            return _error(f"memory grow: {exc!r}")

    def _free_memory(self, env: Any) -> None:
        try:
            s = int(env) - 1
            with self._lock:
                base = self._memories.base(s)
            self._madvise(base, self.slot_bytes, 4)  # MADV_DONTNEED
            with self._lock:
                self._sizes.pop(s, None)
                self._memories.release(s)
        except BaseException:  # never into wasmtime; a slot not freed is logged
            self._report("freeing a linear memory")

    def _report(self, what: str) -> None:
        """Log a failure in a finalizer (wasmtime gets nothing back from
        one); quiet while the interpreter shuts down and logging is gone."""
        with self._quiet(BaseException):  # the interpreter may be going away
            self._log.exception("hostkit arena: %s failed (its slot stays in use)", what)

    def stats(self) -> dict[str, int]:
        """Live stacks, mapped stacks, idle resident stacks, live memories."""
        with self._lock:
            return {
                "stacks": self._stacks.live,
                "stacks_mapped": len(self._mapped),
                "stacks_idle_resident": len(self._idle),
                "memories": self._memories.live,
                "stack_maps": self.stack_maps,
            }


@dataclass(frozen=True)
class ArenaSettings:
    """The arena's sizes (from HostConfig): ``memory_bytes`` per linear
    memory slot, ``stack_bytes`` per fiber stack, ``resident`` idle stacks
    kept mapped, ``max_slots`` of each kind alive at once."""

    memory_bytes: int
    stack_bytes: int
    resident: int
    max_slots: int

    @property
    def fingerprint(self) -> str:
        """What compiled code depends on among these settings (the same
        as a pool with these slots and no copy-on-write image)."""
        return f"pool-res{_round(self.memory_bytes, 64 * 1024)}-guard0-cow0"


def configure_arena(cfg: Any, settings: ArenaSettings) -> Arena:
    """Switch ``cfg`` (a ``wasmtime.Config``, on-demand allocator) to the
    arena; the returned `Arena` must outlive every Store of the engine."""
    arena = Arena(
        settings.stack_bytes, settings.memory_bytes, settings.resident, settings.max_slots
    )
    ptr = cfg.ptr()
    _capi.config_memory_reservation(ptr, arena.slot_bytes)
    _capi.config_memory_guard_size(ptr, 0)
    _capi.config_memory_init_cow(ptr, False)
    _capi.config_async_stack_size(ptr, arena.stack_bytes)
    arena.install(ptr)
    return arena
