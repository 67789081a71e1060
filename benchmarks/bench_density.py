"""Density: how many tiny ``echo`` actors one host holds, and what each costs.

    python benchmarks/bench_density.py --warm                # pooled, 128 KiB slots
    python benchmarks/bench_density.py --pool 0 --count 30000   # no pool (on-demand)
    python benchmarks/bench_density.py --memory 16777216 --cow  # bigger slots, CoW
    python benchmarks/bench_density.py --arena --warm        # the arena (HostConfig.arena)

Spawns ``--count`` echo actors (64 concurrent spawners, like ``run.py
spawn``; ``--spawners``) until done or until a spawn is refused, and prints at 1k, 10k,
100k and the end: the spawn cost of that stretch (with ``--warm``: spawn
plus one call, which grows echo's memory to its working size of two wasm
pages), RSS per actor and kernel memory mappings per actor
(``/proc/self/maps`` lines; the kernel allows ``vm.max_map_count`` of them
per process). Then it checks that the host
still answers a call, kills everything and times the close.

``--compare-pool --count 10000`` instead alternates unpooled, pooled and
arena hosts (256 MiB and 128 KiB slots) in one process and prints, for each, the
time to open, the address space reserved, spawn, RSS and mappings per idle
actor, and kill plus Store deletion per actor: the pool's default is
decided on these.

Baseline, same run: raw public-API instantiate of the same guest (own
Store), with the same engine memory settings as the host. Not a unit test:
100k actors take minutes and gigabytes. It stops early if RSS passes
``--max-rss-gib`` (the machine is shared).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

import hostkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402

CHECKPOINTS = (1_000, 10_000, 100_000)


def maps() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def max_map_count() -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except OSError:
        return -1


def raw_instantiate_us(echo: Path, cfg: hostkit.HostConfig, n: int) -> float:
    """Median of 5 rounds of n raw instantiations, engine set up like the host's."""
    import wasmtime
    from wasmtime import component as wc

    from hostkit.runtime._wasm._pool import configure_engine  # same settings as the host

    wcfg = wasmtime.Config()
    wcfg.epoch_interruption = True
    wcfg.consume_fuel = True
    pool = cfg.pool()
    if pool is not None:
        from dataclasses import replace

        configure_engine(
            wcfg,
            replace(
                pool,
                instances=n + 10,
                core_instances=16 * (n + 10),
                memories=n + 10,
                tables=2 * (n + 10),
            ),
        )
    arena = cfg.arena_settings()
    keep_arena = None
    if arena is not None:
        from dataclasses import replace

        from hostkit.runtime._wasm._arena import configure_arena

        keep_arena = configure_arena(wcfg, replace(arena, max_slots=n + 10))
    engine = wasmtime.Engine(wcfg)
    comp = wc.Component(engine, echo.read_bytes())
    linker = wc.Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        with root.add_instance("hostkit:plugin/types@0.1.0"):
            pass
        with root.add_instance("hostkit:plugin/process@0.1.0") as proc:
            proc.add_func("self", lambda store: 7)
    linker.define_unknown_imports_as_traps(comp)  # a Python guest's other imports

    def one() -> float:
        keep: list[Any] = []
        t = time.perf_counter()
        for _ in range(n):
            s = wasmtime.Store(engine)
            s.set_fuel(10**9)
            s.set_epoch_deadline(1000)
            s.set_wasi(wasmtime.WasiConfig())
            keep.append((s, linker.instantiate(s, comp)))
        elapsed = (time.perf_counter() - t) / n * 1e6
        keep.clear()
        return elapsed

    result = statistics.median(one() for _ in range(5))
    del keep_arena  # (after every Store of the engine is gone)
    return result


async def density(args: argparse.Namespace) -> None:
    echo_path = plugin_build.build(args.guest)
    cfg = hostkit.HostConfig(
        scheduler_threads=2,
        max_actors=args.count + 10,
        max_actors_per_plugin=args.count + 10,
        max_memory_bytes=args.memory,
        pool_instances=args.pool,
        pool_memory_cow=args.cow,
        arena=args.arena,
        exit_history=1000,
    )
    raw_n = min(2000, args.count)
    raw = raw_instantiate_us(echo_path, cfg, raw_n)
    print(
        f"pool_instances={args.pool} max_memory_bytes={args.memory} cow={args.cow} "
        f"warm={args.warm} spawners={args.spawners} "
        f"reserved={cfg.pool_reservation_bytes() / 2**30:.1f} GiB "
        f"vm.max_map_count={max_map_count()}"
    )
    print(f"baseline: raw instantiate, same engine settings: {raw:.2f} us (median of 5 x {raw_n})")
    gc.collect()
    maps0, rss0 = maps(), rss_kib()
    t_open = time.perf_counter()
    async with hostkit.open_host(cfg) as host:
        print(f"host opened in {(time.perf_counter() - t_open) * 1e3:.1f} ms")
        echo = await host.load_async(echo_path)
        gc.collect()
        maps0, rss0 = maps(), rss_kib()
        pids: list[hostkit.Pid] = []
        refused: list[str] = []
        too_big = False

        async def spawner(k: int) -> None:
            for _ in range(k):
                if refused or too_big:
                    return
                try:
                    pid = await host.spawn(echo)
                except hostkit.SpawnError as exc:
                    refused.append(str(exc))
                    return
                pids.append(pid)
                if args.warm:
                    await host.call(pid, "count")

        marks = [c for c in CHECKPOINTS if c < args.count] + [args.count]
        done, t_prev = 0, time.perf_counter()
        print(f"{'actors':>8} {'us/spawn':>9} {'x raw':>6} {'KiB/actor':>10} {'maps/actor':>11}")
        for mark in marks:
            async with trio.open_nursery() as nursery:
                todo = mark - done
                k = args.spawners
                for i in range(k):
                    nursery.start_soon(spawner, todo // k + (1 if i < todo % k else 0))
            now = time.perf_counter()
            made = len(pids) - done
            us = (now - t_prev) / max(1, made) * 1e6
            n = len(pids)
            kib = (rss_kib() - rss0) / max(1, n)
            per_map = (maps() - maps0) / max(1, n)
            print(f"{n:>8} {us:>9.1f} {us / raw:>6.2f} {kib:>10.2f} {per_map:>11.3f}", flush=True)
            done, t_prev = n, now
            too_big = rss_kib() > args.max_rss_gib * 2**20
            if refused or too_big:
                break
        if refused:
            print(f"ceiling: {len(pids)} actors; refused with: {refused[0]}")
        elif too_big:
            print(f"stopped at {len(pids)} actors: RSS over {args.max_rss_gib} GiB")
        else:
            print(f"no ceiling met: {len(pids)} actors live")
        t = time.perf_counter()
        answer = await host.call(pids[len(pids) // 2], "still serving?")
        took = (time.perf_counter() - t) * 1e6
        print(f"a call to a live actor after that: {answer!r} in {took:.0f} us")
        t_close = time.perf_counter()
    print(f"host with {len(pids)} actors closed in {time.perf_counter() - t_close:.2f} s")


def vsz_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * 4


async def compare_one(pool: int, memory: int, n: int, spawners: int) -> str:
    """One host, pooled, unpooled or with the arena (``pool`` -1): open,
    spawn ``n`` idle echo actors, kill them."""
    cfg = hostkit.HostConfig(
        scheduler_threads=2,
        max_actors=n + 10,
        max_actors_per_plugin=n + 10,
        max_memory_bytes=memory,
        pool_instances=max(0, pool),
        arena=pool < 0,
    )
    vsz0, t = vsz_kib(), time.perf_counter()
    async with hostkit.open_host(cfg) as host:
        opened = (time.perf_counter() - t) * 1e3
        reserved = (vsz_kib() - vsz0) / 2**20  # GiB
        echo = host.load(plugin_build.build_wat("echo"))
        gc.collect()
        rss0, maps0 = rss_kib(), maps()
        pids: list[hostkit.Pid] = []

        async def spawner(k: int) -> None:
            for _ in range(k):
                pids.append(await host.spawn(echo))

        t = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for i in range(spawners):
                nursery.start_soon(spawner, n // spawners + (1 if i < n % spawners else 0))
        spawn = (time.perf_counter() - t) / len(pids) * 1e6
        gc.collect()
        kib, per_map = (rss_kib() - rss0) / len(pids), (maps() - maps0) / len(pids)
        t = time.perf_counter()
        for pid in pids:
            host.kill(pid)
        await trio.to_thread.run_sync(host.flush_dropped)  # the Stores' deletion too
        kill = (time.perf_counter() - t) / len(pids) * 1e6
    label = "arena" if pool < 0 else f"pool_instances={pool}"
    return (
        f"{label:<20} slot={memory // 1024:>7} KiB  open {opened:5.1f} ms  "
        f"reserved {reserved:8.1f} GiB  spawn {spawn:6.1f} us  RSS {kib:5.1f} KiB/actor  "
        f"maps {per_map:4.2f}/actor  kill+delete {kill:5.1f} us"
    )


async def compare_pool(args: argparse.Namespace) -> None:
    """Pooled and unpooled hosts, alternating in one process: the figures
    behind the pool's default (docs/concepts.md, "The instance pool")."""
    n = args.count
    configs = [
        (0, 256 * 2**20),
        (16_384, 256 * 2**20),
        (16_384, 128 * 1024),
        (-1, 256 * 2**20),
        (-1, 128 * 1024),
    ]
    print(f"{n:,} idle echo actors per host, {args.spawners} spawners; rounds alternate")
    for _ in range(args.rounds):
        for pool, memory in configs:
            print(await compare_one(pool, memory, n, args.spawners), flush=True)
            gc.collect()  # the closed host's engine (a pool's reservations) goes now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guest", default="echo", help="a guest plugins/build.py builds")
    parser.add_argument("--count", type=int, default=120_000, help="actors to spawn")
    parser.add_argument("--pool", type=int, default=None, help="pool_instances (0: no pool)")
    parser.add_argument("--memory", type=int, default=128 * 1024, help="max_memory_bytes")
    parser.add_argument("--cow", action="store_true", help="pool_memory_cow=True")
    parser.add_argument(
        "--arena", action="store_true", help="HostConfig.arena=True (no pool): hostkit's arena"
    )
    parser.add_argument(
        "--warm", action="store_true", help="call each actor once after its spawn (timed too)"
    )
    parser.add_argument("--spawners", type=int, default=64, help="concurrent spawning tasks")
    parser.add_argument("--max-rss-gib", type=float, default=6.0)
    parser.add_argument(
        "--compare-pool",
        action="store_true",
        help="alternate pooled and unpooled hosts (use with --count 10000)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare-pool")
    args = parser.parse_args()
    if args.compare_pool:
        trio.run(compare_pool, args)
        return
    if args.arena:
        args.pool = 0
    elif args.pool is None:
        args.pool = args.count + 10
    trio.run(density, args)


if __name__ == "__main__":
    main()
