"""hostkit runtime benchmarks, each figure next to a baseline from the same run.

    python benchmarks/run.py            # all but the python group
    python benchmarks/run.py ring call  # some
    python benchmarks/run.py python     # Python guests (opt-in: minutes)

Baseline: one call through wasmtime-py's *public* component API of the same
tiny guest's ``probe: func(u32) -> u32``, which makes one host import
(``process.self``, defined with the public ``Linker.add_func``). The machine
is shared and noisy: every figure is a median of several rounds.
"""

from __future__ import annotations

import gc
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import hostkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import build as plugin_build  # noqa: E402

ROUNDS = 5
PARALLEL_ROUNDS = 5  # pairs of (1 actor, 2 actors) runs
RESULTS: list[tuple[str, str, str, str]] = []


def median_of(fn: Callable[[], float], rounds: int = ROUNDS) -> float:
    return statistics.median(fn() for _ in range(rounds))


def report(name: str, value: float, unit: str, ratio: str, verdict: str) -> None:
    RESULTS.append((name, f"{value:.2f} {unit}", ratio, verdict))
    print(f"{name:<48} {value:>10.2f} {unit:<6} {ratio:<28} {verdict}", flush=True)


# -- baselines (public wasmtime-py API) -------------------------------------------


def _public_api(echo: Path) -> tuple[Any, Any, Any, Any]:
    """wasmtime-py's public API set up for the echo guest, hostkit-style
    engine (epochs + fuel): (wasmtime module, engine, component, linker).
    The guest imports only ``process.self``."""
    import wasmtime
    from wasmtime import component as wc

    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    cfg.consume_fuel = True
    engine = wasmtime.Engine(cfg)
    comp = wc.Component(engine, echo.read_bytes())
    linker = wc.Linker(engine)
    with linker.root() as root:
        with root.add_instance("hostkit:plugin/types@0.1.0"):
            pass
        with root.add_instance("hostkit:plugin/process@0.1.0") as proc:
            proc.add_func("self", lambda store: 7)
    return wasmtime, engine, comp, linker


def baseline_call_us(echo: Path) -> float:
    wasmtime, engine, comp, linker = _public_api(echo)
    store = wasmtime.Store(engine)
    store.set_fuel(10**12)
    store.set_epoch_deadline(10**9)
    probe = linker.instantiate(store, comp).get_func(store, "probe")
    assert probe(store, 1) == 8

    def one() -> float:
        n = 20_000
        t = time.perf_counter()
        for i in range(n):
            probe(store, i)
        return (time.perf_counter() - t) / n * 1e6

    return median_of(one)


def baseline_instantiate_us(echo: Path, *, with_init: bool = False) -> float:
    """Raw public-API instantiate with its own Store; ``with_init``: plus
    the actor's ``init("")`` call, what a spawn does on top."""
    wasmtime, engine, comp, linker = _public_api(echo)

    def one() -> float:
        n = 2000
        keep = []
        t = time.perf_counter()
        for _ in range(n):
            s = wasmtime.Store(engine)
            s.set_fuel(10**9)
            s.set_epoch_deadline(1000)
            inst = linker.instantiate(s, comp)
            if with_init:
                iface = inst.get_export_index(s, "hostkit:plugin/actor@0.1.0")
                inst.get_func(s, inst.get_export_index(s, "init", iface))(s, "")
            keep.append((s, inst))
        return (time.perf_counter() - t) / n * 1e6

    return median_of(one)


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


# -- hostkit figures ------------------------------------------------------------


def config() -> hostkit.HostConfig:
    return hostkit.HostConfig(scheduler_threads=2, mailbox_capacity=1_000_000)


async def bench_cast(host: hostkit.Host, echo: hostkit.Component) -> float:
    """One-way messages into one actor: us per message, end to end."""
    pid = await host.spawn(echo)
    n = 200_000

    async def one() -> float:
        before = int(await host.call(pid, "count"))
        t = time.perf_counter()
        for i in range(n):
            host.send(pid, "x")
            if i % 5000 == 0:
                await trio.lowlevel.checkpoint()
        assert int(await host.call(pid, "count", timeout=60)) == before + n
        return (time.perf_counter() - t) / n * 1e6

    return statistics.median([await one() for _ in range(ROUNDS)])


async def bench_ring(
    host: hostkit.Host, ring: hostkit.Component, tokens_per_actor: int, hops: int
) -> float:
    """100-actor ring; us per hop."""
    pids = [await host.spawn(ring) for _ in range(100)]
    for a, b in zip(pids, pids[1:] + pids[:1], strict=True):
        host.send(a, f"N{b.id:016x}")

    async def one() -> float:
        start = {p: int(await host.call(p, "finished")) for p in pids}
        base = sum(start.values())
        t = time.perf_counter()
        if tokens_per_actor:
            for _ in range(tokens_per_actor):
                for p in pids:
                    host.send(p, f"T{hops:08x}")
        else:
            host.send(pids[0], f"T{hops:08x}")
        want = base + (100 * tokens_per_actor if tokens_per_actor else 1)
        done = base
        # Poll where tokens end, rarely: every poll is a call into the ring.
        watch = pids if tokens_per_actor else [pids[hops % len(pids)]]
        while done < want:
            await trio.sleep(0.005)
            now_done = [int(await host.call(p, "finished")) for p in watch]
            done = base + sum(now_done) - sum(start[p] for p in watch)
        total = (100 * tokens_per_actor if tokens_per_actor else 1) * hops
        return (time.perf_counter() - t) / total * 1e6

    result = statistics.median([await one() for _ in range(ROUNDS)])
    for p in pids:
        host.kill(p)
    return result


async def bench_call(host: hostkit.Host, echo: hostkit.Component) -> float:
    pid = await host.spawn(echo)
    for _ in range(200):
        await host.call(pid, "warm")

    async def one() -> float:
        n = 3000
        t = time.perf_counter()
        for _ in range(n):
            await host.call(pid, "x")
        return (time.perf_counter() - t) / n * 1e6

    return statistics.median([await one() for _ in range(ROUNDS)])


async def bare_handoff_us() -> float:
    """The floor under any host call: Trio -> a worker thread (SimpleQueue)
    -> back to Trio (run_sync_soon), with no wasm and no hostkit at all."""
    import queue
    import threading

    q: queue.SimpleQueue[trio.Event | None] = queue.SimpleQueue()
    token = trio.lowlevel.current_trio_token()

    def worker() -> None:
        while (item := q.get()) is not None:
            token.run_sync_soon(item.set)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()

    async def one() -> float:
        n = 3000
        t = time.perf_counter()
        for _ in range(n):
            ev = trio.Event()
            q.put(ev)
            await ev.wait()
        return (time.perf_counter() - t) / n * 1e6

    result = statistics.median([await one() for _ in range(ROUNDS)])
    q.put(None)
    thread.join()
    return result


async def bench_spawn(host: hostkit.Host, echo: hostkit.Component) -> tuple[float, float, float]:
    """(us per spawn, KiB RSS per idle actor, us of CPU per spawn summed over
    all threads) over 10,000 actors. The CPU figure moves less with the
    machine's load than the wall-clock one, and shows threads fighting for
    the GIL (each futile wake-up costs CPU)."""
    gc.collect()
    rss0 = rss_kib()
    n = 10_000
    pids: list[hostkit.Pid] = []

    async def spawner(k: int) -> None:
        for _ in range(k):
            pids.append(await host.spawn(echo))

    t, cpu = time.perf_counter(), time.process_time()
    async with trio.open_nursery() as nursery:
        for _ in range(64):
            nursery.start_soon(spawner, n // 64)
    elapsed = time.perf_counter() - t
    cpu = time.process_time() - cpu
    gc.collect()
    per_actor = (rss_kib() - rss0) / len(pids)
    assert await host.call(pids[-1], "alive?") == "alive?"
    for p in pids:
        host.kill(p)
    # the killed actors' Stores are deleted on the reaper thread: let it
    # finish, or its work overlaps (and slows) the next figure
    await trio.to_thread.run_sync(host.flush_dropped)
    return elapsed / len(pids) * 1e6, per_actor, cpu / len(pids) * 1e6


async def bench_spawn_sequential(host: hostkit.Host, echo: hostkit.Component) -> float:
    """us per spawn with one spawner (each spawn waits for the previous):
    the latency of one spawn, which grouping spawns must not raise."""
    n = 2000
    pids: list[hostkit.Pid] = []
    t = time.perf_counter()
    for _ in range(n):
        pids.append(await host.spawn(echo))
    elapsed = time.perf_counter() - t
    for p in pids:
        host.kill(p)
    await trio.to_thread.run_sync(host.flush_dropped)
    return elapsed / n * 1e6


async def bench_spawn_in_thread(host: hostkit.Host, echo: hostkit.Component) -> float:
    """Instantiate + init as a scheduler thread does it (a guest's
    process.spawn takes this path): no Trio hand-off. Internal API on purpose."""
    sched = host._sched

    def run(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            actor = sched.new_actor(echo, b"")
            sched.finish_spawn(actor, sched.instantiate(actor))
        return (time.perf_counter() - t) / n * 1e6

    result = statistics.median([await trio.to_thread.run_sync(run, 2000) for _ in range(ROUNDS)])
    for a in list(sched.actors.values()):
        sched.kill(a)
    await trio.to_thread.run_sync(host.flush_dropped)
    return result


async def bench_parallel(loop_path: Path) -> tuple[list[float], float, float, int]:
    """Throughput of 2 CPU-bound actors over 1, same total work: at least a
    second of it per side, the two sides interleaved (alternating which
    goes first) and repeated. Returns (the ratio of each pair, the median
    seconds of the 1-actor side and of the 2-actor side, jobs per side)."""
    # a host of its own: one job per activation, and room for slow machines
    cfg = hostkit.HostConfig(scheduler_threads=2, batch_size=1, activation_timeout=60.0)
    async with hostkit.open_host(cfg) as host:
        loop = host.load(loop_path)
        a, b = await host.spawn(loop), await host.spawn(loop)

        async def run(pids: list[hostkit.Pid], jobs: int) -> float:
            t = time.perf_counter()
            for i in range(jobs):
                host.send(pids[i % len(pids)], "burn")
            for p in pids:
                await host.call(p, "sync", timeout=600)
            return time.perf_counter() - t

        # calibrate on 8 jobs (one job alone is mostly hand-off), with a
        # margin: the 1-actor side must do at least a second of work
        one_job = min([await run([a], 8) for _ in range(2)]) / 8
        jobs = max(8, 2 * math.ceil(1.5 / one_job / 2))
        ratios: list[float] = []
        ones: list[float] = []
        twos: list[float] = []
        for r in range(PARALLEL_ROUNDS):
            if r % 2:
                two = await run([a, b], jobs)
                one = await run([a], jobs)
            else:
                one = await run([a], jobs)
                two = await run([a, b], jobs)
            ones.append(one)
            twos.append(two)
            ratios.append(one / two)
        return ratios, statistics.median(ones), statistics.median(twos), jobs


async def main(which: set[str]) -> None:
    paths = {n: plugin_build.build_wat(n) for n in ("echo", "ring", "loop")}
    base_call = baseline_call_us(paths["echo"])
    print(
        f"baseline: public wasmtime-py call of probe(u32)->u32 + 1 host import: "
        f"{base_call:.2f} us (median of {ROUNDS})"
    )
    print(f"{'figure':<48} {'value':>10} {'':<6} {'vs baseline':<28} target")
    async with hostkit.open_host(config()) as host:
        echo = host.load(paths["echo"])
        ring = host.load(paths["ring"])
        if not which or "cast" in which:
            us = await bench_cast(host, echo)
            x = base_call / us
            report(
                "one-way messages into one actor",
                us,
                "us/msg",
                f"{x:.1f}x baseline rate",
                f">= 10x: {'MET' if x >= 10 else 'MISSED'}",
            )
        if not which or "ring" in which:
            us = await bench_ring(host, ring, 100, 100)
            report(
                "ring 100 actors, 100 tokens/actor",
                us,
                "us/hop",
                f"{us / base_call:.2f}x call",
                f"<= 4 us: {'MET' if us <= 4 else 'MISSED'}",
            )
            us = await bench_ring(host, ring, 0, 2000)
            r = us / base_call
            report(
                "ring 100 actors, single token",
                us,
                "us/hop",
                f"{r:.2f}x call",
                f"<= 1.5x: {'MET' if r <= 1.5 else 'MISSED'}",
            )
        if not which or "call" in which:
            floor = await bare_handoff_us()
            report(
                "  bound: bare Trio->thread->Trio hand-off",
                floor,
                "us",
                f"{floor / base_call:.2f}x call",
                "(no wasm, no hostkit)",
            )
            us = await bench_call(host, echo)
            r = us / base_call
            report(
                "host call round trip",
                us,
                "us",
                f"{r:.2f}x call",
                f"<= 2x: {'MET' if r <= 2 else 'MISSED'}",
            )
    if not which or "parallel" in which:
        ratios, one, two, jobs = await bench_parallel(paths["loop"])
        report(
            f"  baseline: {jobs} CPU-bound jobs on 1 actor",
            one,
            "s",
            "(same run, interleaved)",
            "",
        )
        report(f"  the same {jobs} jobs on 2 actors", two, "s", "", "")
        x = statistics.median(ratios)
        report(
            "2 CPU-bound guests vs 1 (2 threads)",
            x,
            "x",
            f"range {min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} pairs",
            f">= 1.6x: {'MET' if x >= 1.6 else 'MISSED'}",
        )
    if not which or "spawn" in which:
        base_inst = baseline_instantiate_us(paths["echo"])
        print(f"baseline: raw public-API instantiate (own Store): {base_inst:.2f} us")
        base_init = baseline_instantiate_us(paths["echo"], with_init=True)
        print(f"  and with the actor's init call (what a spawn adds): {base_init:.2f} us")
        async with hostkit.open_host(config()) as host:
            us, kib, cpu = await bench_spawn(host, host.load(paths["echo"]))
            inner = await bench_spawn_in_thread(host, host.load(paths["echo"]))
            one_by_one = await bench_spawn_sequential(host, host.load(paths["echo"]))
        report(
            "  spawn on a scheduler thread (instantiate+init)",
            inner,
            "us",
            f"{inner / base_inst:.2f}x instantiate",
            f"(no Trio hand-off; {inner / base_init:.2f}x instantiate+init)",
        )
        r = us / base_inst
        report(
            "spawn (10,000 actors, incl. init)",
            us,
            "us",
            f"{r:.2f}x instantiate",
            f"<= 1.5x: {'MET' if r <= 1.5 else 'MISSED'} ({us / base_init:.2f}x instantiate+init)",
        )
        report(
            "  the same, over spawn on a scheduler thread",
            us / inner,
            "x",
            "(the Trio side and hand-off)",
            "",
        )
        report(
            "  CPU per spawn, all threads (the same 10,000)",
            cpu,
            "us",
            f"{cpu / inner:.2f}x spawn on a scheduler thread",
            "",
        )
        report(
            "  one spawner, each spawn waiting for the last",
            one_by_one,
            "us",
            f"{one_by_one / base_init:.2f}x instantiate+init",
            "(latency of one spawn)",
        )
        report(
            "RSS per idle actor", kib, "KiB", "", f"<= 20 KiB: {'MET' if kib <= 20 else 'MISSED'}"
        )


def embedding(which: set[str]) -> None:
    """Call round trip through the sync and asyncio facades, next to the
    Trio API in the same run (``bench_embedding.py`` has the full table)."""
    if which and "embedding" not in which:
        return
    import bench_embedding

    figures = bench_embedding.measure(5, 2000, 16, 100)["figures"]
    ref = figures["trio"]["call"]["median"]
    report("call round trip via the Trio API", ref, "us", "1.00x Trio call", "(same run)")
    for design in ("blocking", "aio-thread", "aio-guest"):
        us = figures[design]["call"]["median"]
        report(f"call round trip via {design}", us, "us", f"{us / ref:.2f}x Trio call", "")


def python_guests(which: set[str]) -> None:
    """Python-guest figures (``bench_python.py``): opt-in, they take minutes
    (a first compile of a ~19 MB componentize-py guest is 6-30 s per repeat)."""
    if "python" not in which:
        return
    import bench_python

    print()
    bench_python.measure(3, 3, 40)


def machine_note(when: str) -> None:
    """The load average and machine, printed before and after: the figures
    of a shared machine are only comparable with their load."""
    import os

    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"load average {when}: {load} ({os.cpu_count()} cores)", flush=True)


if __name__ == "__main__":
    groups = set(sys.argv[1:])
    machine_note("before")
    if groups != {"python"}:
        trio.run(main, groups - {"python"})
        embedding(groups - {"python"})
    python_guests(groups)
    machine_note("after")
