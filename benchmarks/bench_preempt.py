"""Preemption: what guests spinning in wasm cost everyone else (issue 11, item 1).

Run: ``python benchmarks/bench_preempt.py`` (``--quick`` for fewer rounds).
Needs the ``test`` (or ``build``) extra: it builds the ``echo`` and ``loop``
guests through ``plugins/build.py``.

Two figures, each next to its same-run baseline:

- **echo call latency** (``host.call`` round trip to the tiny ``echo``
  guest) on a host with 2 scheduler threads: with no other guest (the
  baseline), then with 2 guests spinning in wasm (``loop`` told "spin",
  one per thread), rounds interleaved. Printed: the median over rounds of
  each round's median, and the range of those per-round medians. The same
  with preemption off (``slice_seconds`` = ``activation_timeout``), a few
  calls only: each waits for a spinner's deadline.
- **stop time of a supervision tree of spinners**: a one_for_one supervisor
  of 4 spinning ``loop`` children, ``shutdown=0.5`` s each, with and
  without preemption; with ``trap_exit`` the shutdown signal is a message
  a spinner never reads, so each child takes its whole shutdown (2 s in
  all) before it is killed.

The machine is shared and noisy: read the ranges, and ``uptime`` (printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import trio

import hostkit
from hostkit.supervision import ActorStart, ChildSpec, SupervisorFlags, open_supervisor

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402

DEADLINE = 2.0  # HostConfig.activation_timeout's default


def config(preempt: bool) -> hostkit.HostConfig:
    return hostkit.HostConfig(
        scheduler_threads=2,
        cache_dir=None,
        activation_timeout=DEADLINE,
        fuel_per_activation=None,  # spinners end at their deadline, not by fuel
        **({} if preempt else {"slice_seconds": DEADLINE}),
    )


async def call_latencies(host: hostkit.Host, echo: hostkit.Pid, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await host.call(echo, f"m{i}", timeout=30)
        out.append(time.perf_counter() - t0)
    return out


async def echo_round(
    host: hostkit.Host, echo: hostkit.Pid, loop: hostkit.Component, spinners: int, n: int
) -> float:
    """Median call latency over ``n`` calls with ``spinners`` guests spinning."""
    pids = [await host.spawn(loop) for _ in range(spinners)]
    for pid in pids:
        host.send(pid, "spin")
    await trio.sleep(0.02)  # they are spinning now
    lat = await call_latencies(host, echo, n)
    for pid in pids:
        host.kill(pid)
        await host.wait(pid)
    return statistics.median(lat)


def show(name: str, values: list[float], base: float | None = None) -> None:
    med = statistics.median(values)
    line = (
        f"{name:<52} {med * 1e6:>11.1f} us  range {min(values) * 1e6:.1f}-{max(values) * 1e6:.1f}"
    )
    if base is not None:
        line += f"  ({med / base:.2f}x baseline)"
    print(line, flush=True)


async def bench_echo(rounds: int, calls: int) -> None:
    echo_path, loop_path = plugin_build.build_wat("echo"), plugin_build.build_wat("loop")
    async with hostkit.open_host(config(True)) as host:
        echo = await host.spawn(host.load(echo_path))
        loop = host.load(loop_path)
        idle, busy = [], []
        for _ in range(rounds):  # interleaved: the same load on both sides
            idle.append(await echo_round(host, echo, loop, 0, calls))
            busy.append(await echo_round(host, echo, loop, 2, calls))
        base = statistics.median(idle)
        show("echo call, 2 threads, no spinner (baseline)", idle)
        show("echo call, 2 threads, 2 spinners, preemption on", busy, base)
        print(f"  (slices that ended with a yield: {host._sched.yields})")
    async with hostkit.open_host(config(False)) as host:
        echo = await host.spawn(host.load(echo_path))
        loop = host.load(loop_path)
        off = [await echo_round(host, echo, loop, 2, 1) for _ in range(3)]
        show("echo call, 2 threads, 2 spinners, preemption off", off, base)


async def stop_tree(preempt: bool, trap_exit: bool) -> float:
    async with hostkit.open_host(config(preempt)) as host:
        loop = host.load(plugin_build.build_wat("loop"))
        children = [
            ChildSpec(f"s{i}", ActorStart(loop, trap_exit=trap_exit), shutdown=0.5)
            for i in range(4)
        ]
        async with open_supervisor(host, SupervisorFlags(), children) as sup:
            for child in sup.which_children():
                assert child.pid is not None
                host.send(child.pid, "spin")
            await trio.sleep(0.05)
            t0 = time.perf_counter()
            await sup.stop()
            return time.perf_counter() - t0


async def bench_stop(rounds: int) -> None:
    for trap_exit in (False, True):
        on, off = [], []
        for _ in range(rounds):
            on.append(await stop_tree(True, trap_exit))
            off.append(await stop_tree(False, trap_exit))
        name = f"stop 4 spinners, shutdown 0.5 s, trap_exit={trap_exit}"
        print(
            f"{name:<52} preemption on {statistics.median(on):.3f} s "
            f"[{min(on):.3f}-{max(on):.3f}], off {statistics.median(off):.3f} s "
            f"[{min(off):.3f}-{max(off):.3f}]",
            flush=True,
        )


async def main(quick: bool) -> None:
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    await bench_echo(rounds=3 if quick else 7, calls=50 if quick else 200)
    await bench_stop(rounds=1 if quick else 3)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    trio.run(main, parser.parse_args().quick)
