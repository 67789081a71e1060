"""The arena (``HostConfig.arena``): fiber stacks and linear memories from
hostkit's own mappings. An idle actor holds no kernel mapping of its own; a
guest cannot read or write past its memory's size although its slot is
bigger; a slot an exited actor held starts zeroed for the next; a call in
flight keeps its stack mapped while idle ones lose theirs; when the arena
cannot get address space a spawn fails with ``SpawnError`` and the host
serves on and closes. Density figures are in ``benchmarks/bench_density.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import trio

import hostkit
from hostkit.runtime._wasm._pool import _count_maps


def _arena(config: hostkit.HostConfig, **fields: object) -> hostkit.HostConfig:
    return replace(  # type: ignore[arg-type]
        config, arena=True, max_memory_bytes=256 * 1024, **fields
    )


async def test_idle_actors_hold_no_mappings_of_their_own(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_arena(config, arena_resident_stacks=64)) as host:
        echo = host.load(wasm["echo"])
        warm = [await host.spawn(echo) for _ in range(20)]
        for pid in warm:
            assert await host.call(pid, "x") == "x"
        before = _count_maps()
        pids = [await host.spawn(echo) for _ in range(400)]
        for pid in pids:
            assert await host.call(pid, "x") == "x"
        grown = _count_maps() - before
        # without the arena each idle actor holds ~6 (stack, guard, memory
        # reservation and image); here only the 64 resident stacks (at most
        # 2 each: a stack splits the reservation around it)
        assert grown < 2 * 64 + 20, f"{grown} mappings for 400 idle actors"
        stats = host.engine.arena.stats()  # type: ignore[union-attr]
        assert stats["stacks"] == stats["memories"] == 420
        assert stats["stacks_mapped"] <= 64
        # every stack that lost its mapping is mapped again when needed
        for pid in pids[:50]:
            assert await host.call(pid, "again") == "again"


@pytest.mark.parametrize("op", ["peek", "poke"])
async def test_a_guest_cannot_reach_past_its_memory_size_inside_its_slot(
    config: hostkit.HostConfig, wasm: dict[str, Path], op: str
) -> None:
    # the slot is 256 KiB; the guest's memory is smaller: the access just
    # past its size lands inside the slot, readable and writable to the
    # kernel, and must trap all the same
    async with hostkit.open_host(_arena(config)) as host:
        probe = host.load(wasm["arena_probe"])
        bystander = await host.spawn(probe)
        pid = await host.spawn(probe)
        with pytest.raises(hostkit.ActorExited, match="out of bounds memory access"):
            await host.call(pid, op)
        assert await host.call(bystander, "grow") == "zero"


async def test_a_memory_grows_to_its_slot_and_no_further(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_arena(config)) as host:
        bomb = host.load(wasm["memgrow"])
        pid = await host.spawn(bomb)
        assert await host.call(pid, "bomb") == "refused"  # one 4 GiB memory.grow
        assert int(await host.call(pid, "grow")) == 4  # 256 KiB: the slot, page by page
        neighbour = await host.spawn(bomb)  # the next slot is untouched by it
        assert int(await host.call(neighbour, "grow")) == 4


async def test_a_slot_is_zeroed_for_its_next_owner(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_arena(config)) as host:
        probe = host.load(wasm["arena_probe"])
        first = await host.spawn(probe)
        assert await host.call(first, "grow") == "zero"
        assert await host.call(first, "fill") == "ok"  # every byte past 4 KiB: 0xff
        arena = host.engine.arena
        assert arena is not None
        slots = arena.stats()["memories"]
        host.kill(first)
        with trio.fail_after(10):
            while arena.stats()["memories"] == slots:
                host.flush_dropped()
                await trio.sleep(0.01)
        second = await host.spawn(probe)
        assert arena._memories.next == slots  # the freed slot, not a fresh one
        assert await host.call(second, "grow") == "zero"


async def test_a_call_in_flight_keeps_its_stack_while_idle_ones_lose_theirs(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = _arena(config, arena_resident_stacks=0, scheduler_threads=2, activation_timeout=30.0)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        spin = host.load(wasm["loop"])
        spinners = [await host.spawn(spin) for _ in range(2)]
        for pid in spinners:
            host.send(pid, "spin")
        pids = [await host.spawn(echo) for _ in range(30)]
        # both spinners yield at every slice, their calls in flight; every
        # echo call maps its stack and unmaps it when done (0 resident)
        for _ in range(3):
            for pid in pids:
                assert await host.call(pid, "x") == "x"
        arena = host.engine.arena
        assert arena is not None
        assert arena.stats()["stacks_idle_resident"] == 0
        assert arena.stats()["stack_maps"] > 90
        for pid in spinners:
            host.kill(pid)
        # stopped (terminate runs on an unmapped stack, mapped again) and
        # deleted (wasmtime touches the cached stack as it deletes a Store)
        for pid in pids:
            host.stop(pid)
        for pid in [*spinners, *pids]:
            await host.wait(pid)
        with trio.fail_after(10):  # every Store deleted: every stack released
            while arena.stats()["stacks"]:
                host.flush_dropped()
                await trio.sleep(0.01)


class _Blocker:
    """Holds the reaper in its ``__del__`` until released (or 10 s)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def __del__(self) -> None:
        self.release.wait(10)


async def test_dead_actors_stacks_are_mapped_one_at_a_time_as_stores_are_deleted(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    """wasmtime touches a Store's stack while deleting it, so the stack is
    mapped again first; doing that when the actor dies rather than when
    the reaper deletes its Store mapped every stack of a mass kill at once
    (120,000 actors killed at close ran the process out of mappings, and
    the Stores it could not delete crashed the interpreter at exit)."""
    cfg = _arena(config, arena_resident_stacks=4)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        pids = [await host.spawn(echo) for _ in range(100)]
        arena = host.engine.arena
        assert arena is not None
        assert arena.stats()["stacks_mapped"] <= 4
        release = threading.Event()
        host._reaper.reap(_Blocker(release))  # the reaper is busy...
        for pid in pids:
            host.kill(pid)  # ...so 100 Stores wait for it
        for pid in pids:
            await host.wait(pid)
        assert arena.stats()["stacks"] == 100  # not deleted yet
        assert arena.stats()["stacks_mapped"] <= 4  # and not mapped
        release.set()
        await trio.to_thread.run_sync(host.flush_dropped)
        assert arena.stats()["stacks"] == arena.stats()["stacks_mapped"] == 0


def _mappings_in(lo: int, hi: int) -> int:
    count = 0
    with open("/proc/self/maps") as f:
        for line in f:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            count += start < hi and end > lo
    return count


def test_stacks_made_idle_merge_back_into_one_mapping() -> None:
    """The kernel merges neighbouring pieces of a mapping only if they share
    its anon_vma and flags: stacks used in any order and made idle again
    must leave the reservation one mapping (see ``_arena._reserve``)."""
    import ctypes

    from hostkit.runtime._wasm._arena import Arena

    arena = Arena(64 * 1024, 64 * 1024, resident=0, max_slots=100)
    slots = arena._stacks
    for _ in range(8):
        slots.alloc()
    lo = slots.chunks[0]
    hi = lo + slots.slot * slots.per_chunk
    assert _mappings_in(lo, hi) == 1
    for s in (5, 1, 3, 7):  # not in order, not adjacent: as fibers use them
        assert arena._map_stack(s)
        ctypes.memset(arena._stack_base(s), 1, arena.stack_bytes)
    assert _mappings_in(lo, hi) == 9  # each mapped stack splits the reservation
    for s in (5, 1, 3, 7):
        arena._unmap_stack(s)
    assert _mappings_in(lo, hi) == 1
    for s in range(8):
        slots.release(s)
    arena.close()
    assert _mappings_in(lo, hi) == 0


def test_arena_config_is_checked() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        hostkit.HostConfig(arena=True, pool_instances=4)
    with pytest.raises(TypeError, match="arena must be a bool"):
        hostkit.HostConfig(arena="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="arena_resident_stacks"):
        hostkit.HostConfig(arena=True, arena_resident_stacks=-1)


SCRIPT = r"""
import json, resource, sys
import trio
import hostkit

wasm, cache = sys.argv[1], sys.argv[2]


def vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmSize")


async def main() -> None:
    cfg = hostkit.HostConfig(
        scheduler_threads=1, cache_dir=cache, arena=True, max_memory_bytes=256 * 1024
    )
    out = {"spawned": 0}
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm)
        first = await host.spawn(echo)  # the first chunks of stacks and memories
        # room for small allocations, not for another chunk of stacks
        resource.setrlimit(resource.RLIMIT_AS, (vm_size() + (256 << 20), resource.RLIM_INFINITY))
        try:
            for _ in range(1100):
                await host.spawn(echo)
                out["spawned"] += 1
        except hostkit.SpawnError as exc:
            out["error"] = str(exc)
        out["first"] = await host.call(first, "still here")
        out["live"] = len(host.actors())
    out["closed"] = host._closed
    print(json.dumps(out))


trio.run(main)
"""


def test_out_of_address_space_is_a_clean_spawn_error(
    wasm: dict[str, Path], cache_dir: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(wasm["echo"]), str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # a chunk holds 1,024 stacks: the spawn that needs the second is refused
    assert out["spawned"] == 1023, out
    assert "could not reserve" in out["error"] and "address space" in out["error"]
    assert out["first"] == "still here"
    assert out["live"] == 1024
    assert out["closed"] is True
