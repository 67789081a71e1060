"""The instance pool (``HostConfig.pool_instances``): a spawn past any of
its ceilings fails with a ``SpawnError`` naming the limit, the host keeps
serving, a slot freed by an exited actor is used again, and the host closes
cleanly. Sizes are tiny on purpose; density figures are in
``benchmarks/bench_density.py``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import hostkit
from hostkit.runtime._wasm import _instance
from hostkit.runtime._wasm._cache import fingerprint
from hostkit.runtime._wasm._pool import MAP_HEADROOM, MapBudget, _count_maps, pool_fault


def _pool(config: hostkit.HostConfig, **fields: object) -> hostkit.HostConfig:
    return replace(config, max_memory_bytes=16 * 1024 * 1024, **fields)  # type: ignore[arg-type]


async def test_a_spawn_past_the_pool_fails_naming_the_limit_and_the_host_serves_on(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_pool(config, pool_instances=4)) as host:
        echo = host.load(wasm["echo"])
        pids = [await host.spawn(echo) for _ in range(4)]
        with pytest.raises(hostkit.SpawnError) as info:
            await host.spawn(echo)
        message = str(info.value)
        assert "instance pool is full" in message
        assert "HostConfig.pool_instances=4" in message
        # the refused spawn left nothing behind and every live actor answers
        assert len(host.actors()) == 4
        for pid in pids:
            assert await host.call(pid, "ping") == "ping"
        # a second refusal is just as clean
        with pytest.raises(hostkit.SpawnError):
            await host.spawn(echo)
        assert await host.call(pids[0], "still here") == "still here"


async def test_a_slot_freed_by_an_exited_actor_is_used_again(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_pool(config, pool_instances=4)) as host:
        echo = host.load(wasm["echo"])
        pids = [await host.spawn(echo) for _ in range(4)]
        for round_ in range(3):
            host.kill(pids[round_])
            await host.wait(pids[round_])
            fresh = await host.spawn(echo)
            assert await host.call(fresh, f"round {round_}") == f"round {round_}"
            pids.append(fresh)
        with pytest.raises(hostkit.SpawnError, match="pool_instances"):
            await host.spawn(echo)


async def test_the_memory_pool_has_its_own_ceiling(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = _pool(config, pool_instances=8, pool_memories=2)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        first = [await host.spawn(echo) for _ in range(2)]
        with pytest.raises(hostkit.SpawnError) as info:
            await host.spawn(echo)
        assert "linear memory slots" in str(info.value)
        assert "HostConfig.pool_memories=2" in str(info.value)
        assert await host.call(first[1], "x") == "x"


async def test_a_host_with_a_full_pool_closes_cleanly(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(_pool(config, pool_instances=2)) as host:
        echo = host.load(wasm["echo"])
        pids = [await host.spawn(echo) for _ in range(2)]
        with pytest.raises(hostkit.SpawnError):
            await host.spawn(echo)
    for pid in pids:
        assert not host.is_alive(pid)
    # and a fresh pool can be reserved again right away
    async with hostkit.open_host(_pool(config, pool_instances=2)) as again:
        pid = await again.spawn(again.load(wasm["echo"]))
        assert await again.call(pid, "ok") == "ok"


async def test_pooled_memories_keep_the_per_instance_cap(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = replace(config, max_memory_bytes=4 * 1024 * 1024, pool_instances=4)
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["memgrow"]))
        assert int(await host.call(pid, "grow")) == cfg.max_memory_bytes // 65536


def test_pool_settings_are_validated_naming_the_field() -> None:
    with pytest.raises(ValueError, match="pool_instances"):
        hostkit.HostConfig(pool_instances=-1)
    with pytest.raises(TypeError, match="pool_instances"):
        hostkit.HostConfig(pool_instances=True)
    with pytest.raises(ValueError, match="pool_memories"):
        hostkit.HostConfig(pool_instances=4, pool_memories=0)
    with pytest.raises(ValueError, match="TiB of address space"):
        hostkit.HostConfig(pool_instances=1_000_000, max_memory_bytes=1024 * 1024 * 1024)


def test_the_pool_changes_the_compile_cache_fingerprint() -> None:
    pooled = hostkit.HostConfig(pool_instances=4).pool()
    assert pooled is not None
    assert fingerprint(True, pooled.fingerprint) != fingerprint(True)
    other = hostkit.HostConfig(pool_instances=4, max_memory_bytes=8 * 1024 * 1024).pool()
    assert other is not None and other.fingerprint != pooled.fingerprint


def test_pool_exhaustion_messages_are_recognised() -> None:
    text = "maximum concurrent limit of 7 for core instances reached"
    assert "HostConfig.pool_core_instances=7" in (pool_fault(text) or "")
    assert "pool_tables" in (pool_fault("maximum concurrent limit of 3 for tables reached") or "")
    assert pool_fault("wasm trap: unreachable") is None


async def test_a_host_closes_cleanly_when_more_actors_stop_than_it_remembers(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    # 120k actors against the default exit_history of 100k, in miniature: the
    # exit records of the first actors to stop are forgotten while close waits
    cfg = _pool(config, pool_instances=8, exit_history=2)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(wasm["echo"])
        pids = [await host.spawn(echo) for _ in range(6)]
    assert not any(host.is_alive(pid) for pid in pids)


def test_the_map_budget_refuses_near_the_kernel_limit_and_counts_rarely_far_from_it() -> None:
    in_use = _count_maps()
    near = MapBudget(limit=in_use + 100, headroom=MAP_HEADROOM)
    refusal = near.check()
    assert refusal is not None
    assert "vm.max_map_count" in refusal and "memory mappings" in refusal
    far = MapBudget(limit=in_use + MAP_HEADROOM + 16 * 1000)
    assert far.check() is None  # counted once: room for ~1000 more spawns
    assert all(far.check() is None for _ in range(900))


def test_the_map_budget_counts_rarely_near_the_ceiling_and_not_at_all_once_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counting /proc/self/maps costs ~60 ms near the default ceiling: spawns
    that add few mappings must not count each time, and a spawn loop at the
    ceiling must not count at all until the refusal's time is up."""
    from hostkit.runtime._wasm import _pool

    maps = {"now": 60_000, "counts": 0}

    def fake_count() -> int:
        maps["counts"] += 1
        return maps["now"]

    monkeypatch.setattr(_pool, "_count_maps", fake_count)
    budget = MapBudget(limit=60_000 + MAP_HEADROOM + 3_000)
    allowed = 0
    while budget.check() is None:  # each spawn adds one mapping
        allowed += 1
        maps["now"] += 1
        assert allowed < 10_000
    assert 2_990 <= allowed <= 3_000
    assert maps["counts"] < 80, maps["counts"]  # one per spawn would be ~3,000
    counted = maps["counts"]
    for _ in range(1_000):  # refused without counting again
        assert budget.check() is not None
    assert maps["counts"] == counted
    maps["now"] -= 500  # actors exited; after the pause the budget looks again
    monkeypatch.setattr(_pool.time, "monotonic", lambda: 1e12)
    assert budget.check() is None
    assert maps["counts"] == counted + 1


async def test_a_spawn_at_the_mapping_limit_fails_and_the_host_serves_and_closes(
    config: hostkit.HostConfig, wasm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with hostkit.open_host(config) as host:
        echo = host.load(wasm["echo"])
        live = await host.spawn(echo)
        tight = MapBudget(limit=_count_maps() + MAP_HEADROOM - 1)
        monkeypatch.setattr(_instance, "MAP_BUDGET", tight)
        with pytest.raises(hostkit.SpawnError, match=r"vm\.max_map_count"):
            await host.spawn(echo)
        assert await host.call(live, "serving") == "serving"
    assert not host.is_alive(live)


async def test_pooled_and_unpooled_hosts_share_a_cache_dir_without_mixing_code(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    # wasmtime refuses code compiled for another memory reservation; the
    # fingerprint keeps each engine's entries apart, and the worker compiles
    # with the pool's settings
    shared = replace(config, cache_dir=tmp_path / "cache")
    for cfg in (shared, _pool(shared, pool_instances=2), shared, _pool(shared, pool_instances=2)):
        async with hostkit.open_host(cfg) as host:
            pid = await host.spawn(host.load(wasm["echo"]))
            assert await host.call(pid, "hi") == "hi"
    entries = sorted(p.parent.name for p in (tmp_path / "cache").rglob("*.cwasm"))
    assert len(entries) == 2 and any("pool-res" in name for name in entries)
