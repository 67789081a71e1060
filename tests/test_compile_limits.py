"""Bounded compiles: a component compiles in a worker process limited in
CPU time, address space and compiled-code size, each failure a
ComponentLoadError naming the limit; the Trio loop keeps running meanwhile;
sync loads never compile big components on the Trio thread; a component
already loaded (same digest) is reused in memory.

The attacker is one giant function (~3 MB of wasm, thousands of live
locals): seconds of CPU and hundreds of MiB to compile.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from test_boundary_types import actor_component, assemble

import hostkit
from hostkit.runtime._wasm import CompileProgress

MB = 1_000_000


@pytest.fixture(scope="module")
def giant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(1)
    locals_, ops = 2000, 300_000
    body = ["(local " + " ".join(["i64"] * locals_) + ")"]
    body += [
        f"(local.set {2 + rng.randrange(locals_)} "
        f"(i64.add (local.get {2 + rng.randrange(locals_)}) (i64.const {i})))"
        for i in range(ops)
    ]
    # use every local, so the compiler cannot drop the work as dead code
    body.append(
        "(i64.store (i32.const 256) "
        + "".join(f"(i64.add (local.get {2 + j}) " for j in range(locals_))
        + "(i64.const 0)"
        + ")" * locals_
        + ")"
    )
    wat = actor_component([], deliver="".join(body))
    return assemble(wat, tmp_path_factory.mktemp("giant"), "bnd_giant")


@pytest.fixture
def uncached(config: hostkit.HostConfig) -> hostkit.HostConfig:
    return replace(config, cache_dir=None)


async def test_a_giant_function_hits_the_cpu_limit_while_the_loop_keeps_running(
    uncached: hostkit.HostConfig, giant: Path
) -> None:
    ticks = 0
    events: list[CompileProgress] = []

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.01)
            ticks += 1

    async with hostkit.open_host(replace(uncached, compile_cpu_seconds=1)) as host:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(heartbeat)
            with pytest.raises(hostkit.ComponentLoadError) as info:
                await host.load_async(giant, progress=events.append)
            nursery.cancel_scope.cancel()
        assert "bnd_giant" not in host.components
    assert "CPU-time limit of 1 s (HostConfig.compile_cpu_seconds)" in info.value.problem
    # the worker ran for at least a second of CPU; the loop ticked meanwhile
    assert ticks >= 10
    assert events and {e.phase for e in events} == {"compiling"}
    assert all(e.component == "bnd_giant" and e.cpu_limit == 1 for e in events)


async def test_a_giant_function_hits_the_memory_limit(
    uncached: hostkit.HostConfig, giant: Path
) -> None:
    cfg = replace(uncached, compile_memory_bytes=220 * MB)
    async with hostkit.open_host(cfg) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            await host.load_async(giant)
    assert f"memory limit of {220 * MB} bytes" in info.value.problem
    assert "HostConfig.compile_memory_bytes" in info.value.problem


async def test_compiled_code_over_the_cap_is_refused(
    uncached: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(replace(uncached, max_compiled_bytes=10_000)) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            await host.load_async(wasm["echo"])
    assert "exceeds the limit of 10000 bytes (HostConfig.max_compiled_bytes)" in info.value.problem


async def test_sync_load_on_the_trio_thread_refuses_a_big_compile(
    uncached: hostkit.HostConfig, giant: Path
) -> None:
    async with hostkit.open_host(uncached) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="would block the Trio event loop"):
            host.load(giant)


async def test_sync_load_compiles_small_components_and_loads_cached_big_ones(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    cfg = replace(config, cache_dir=tmp_path / "cache", max_blocking_compile_bytes=1000)
    async with hostkit.open_host(cfg) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="load_async"):
            host.load(wasm["echo"])  # 3.5 kB > 1000 bytes, not cached yet
        await host.load_async(wasm["echo"])
        host.load(wasm["echo"], name="again")  # the same digest: in memory
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["echo"]))  # from the disk cache
        assert await host.call(pid, "hi") == "hi"


async def test_the_same_component_loaded_twice_compiles_once(
    uncached: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    first: list[str] = []
    second: list[str] = []
    async with hostkit.open_host(uncached) as host:
        a = await host.load_async(wasm["echo"], name="a", progress=lambda e: first.append(e.phase))
        b = await host.load_async(wasm["echo"], name="b", progress=lambda e: second.append(e.phase))
        assert a.raw is b.raw
        assert a.digest == b.digest
    assert "loading" in first
    assert second == ["done"]


async def test_non_positive_compile_limits_are_refused(
    uncached: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    with pytest.raises(ValueError, match=r"HostConfig\.compile_cpu_seconds"):
        replace(uncached, compile_cpu_seconds=0)
