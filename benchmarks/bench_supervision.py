"""What stopping a flat supervisor costs, and that it grows linearly with its children.

Run: ``python benchmarks/bench_supervision.py`` (``--quick`` for fewer sizes
and rounds). Needs the ``test`` (or ``build``) extra: it builds the ``echo``
guest through ``plugins/build.py``.

For a one_for_one supervisor with N idle children, prints the median (of
repeated rounds) wall time of ``await sup.stop()``, which stops the children
one by one in reverse start order, each within its ``shutdown``:

- task children (``TaskStart`` of a sleeping task): the supervisor's own cost,
  next to its same-run baseline, cancelling N sleeping tasks in a nursery;
- actor children (``ActorStart`` of the tiny ``echo`` guest): next to its
  same-run baseline, stopping the same N actors directly
  (``host.exit(pid, "shutdown")`` one by one, each awaited as the supervisor
  does);

and the growth from N/2 to N children (2.0x is linear). The target (issue 11,
item 9): 2,000 children stop in at most 0.1 s.

For actors it also prints the Trio thread's CPU time during the stop (next to
the baseline's), which the machine's load disturbs far less than wall time,
and the wall time from calling ``stop()`` until the supervisor's ``async with`` has
closed (its watcher tasks waking after the children are gone). A dead actor's
Store is deleted on the host's reaper thread; the baseline waits for the
reaper after each round so that rounds do not overlap.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
import trio.testing

import hostkit
from hostkit.supervision import ActorStart, ChildSpec, SupervisorFlags, TaskStart, open_supervisor

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402

TARGET_N, TARGET_S = 2000, 0.1


async def _idle() -> None:
    await trio.sleep_forever()


async def median_of(rounds: int, one: Callable[[], Awaitable[float]]) -> tuple[float, float, float]:
    times = [await one() for _ in range(rounds)]
    return statistics.median(times), min(times), max(times)


async def stop_tasks(n: int) -> float:
    children = [ChildSpec(f"c{i}", TaskStart(_idle)) for i in range(n)]
    async with open_supervisor(None, SupervisorFlags(), children) as sup:
        t0 = time.perf_counter()
        await sup.stop()
        return time.perf_counter() - t0


async def cancel_tasks(n: int) -> float:
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(_idle)
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter()
        nursery.cancel_scope.cancel()
    return time.perf_counter() - t0


CPU: dict[str, list[float]] = {}  # Trio-thread CPU seconds per measured stop, by figure


def _cpu(key: str, since: float) -> None:
    CPU.setdefault(key, []).append(time.thread_time() - since)


async def stop_actors(host: hostkit.Host, echo: hostkit.Component, n: int) -> float:
    children = [ChildSpec(f"a{i}", ActorStart(echo)) for i in range(n)]
    async with open_supervisor(host, SupervisorFlags(), children) as sup:
        c0, t0 = time.thread_time(), time.perf_counter()
        await sup.stop()
        elapsed = time.perf_counter() - t0
        _cpu(f"actor {n}", c0)
    # the watchers have reported nothing since stop() returned; this is
    # them waking up and the nursery closing
    CPU.setdefault(f"closed {n}", []).append(time.perf_counter() - t0)
    return elapsed


async def exit_actors(host: hostkit.Host, echo: hostkit.Component, n: int) -> float:
    pids = [await host.spawn(echo) for _ in range(n)]
    monitors = [host.monitor(pid) for pid in pids]
    c0, t0 = time.thread_time(), time.perf_counter()
    for pid, monitor in zip(reversed(pids), reversed(monitors), strict=True):
        host.exit(pid, "shutdown")
        await monitor.wait()
    elapsed = time.perf_counter() - t0
    _cpu(f"exit {n}", c0)
    # Stores are deleted off the Trio thread (the reaper): let it finish
    # before the next round, so rounds do not overlap
    await trio.to_thread.run_sync(host.flush_dropped)
    return elapsed


def row(name: str, m: tuple[float, float, float], base: tuple[float, float, float] | None) -> None:
    med, lo, hi = m
    line = f"{name:<44} {med * 1e3:>9.2f} ms  [{lo * 1e3:.2f}-{hi * 1e3:.2f}]"
    if base is not None:
        line += f"  baseline {base[0] * 1e3:.2f} ms ({med / base[0]:.1f}x)"
    print(line, flush=True)


async def main(quick: bool) -> None:
    sizes = [1000, 2000] if quick else [500, 1000, 2000, 4000]
    rounds = 3 if quick else 5
    print(f"median of {rounds} rounds [min-max]; stop of a flat one_for_one supervisor")
    results: dict[tuple[str, int], float] = {}
    for n in sizes:
        m = await median_of(rounds, lambda n=n: stop_tasks(n))  # type: ignore[misc]
        b = await median_of(rounds, lambda n=n: cancel_tasks(n))  # type: ignore[misc]
        results["task", n] = m[0]
        row(f"stop {n:,} task children", m, b)
    echo_path = plugin_build.build_wat("echo")
    async with hostkit.open_host(hostkit.HostConfig(scheduler_threads=2)) as host:
        echo = host.load(echo_path)
        for n in sizes:
            m = await median_of(rounds, lambda n=n: stop_actors(host, echo, n))  # type: ignore[misc]
            b = await median_of(rounds, lambda n=n: exit_actors(host, echo, n))  # type: ignore[misc]
            results["actor", n] = m[0]
            row(f"stop {n:,} actor children", m, b)
            mine, theirs = CPU[f"actor {n}"], CPU[f"exit {n}"]
            closed = statistics.median(CPU[f"closed {n}"])
            print(
                f"{'':<4}Trio-thread CPU {statistics.median(mine) * 1e3:.2f} ms "
                f"(baseline {statistics.median(theirs) * 1e3:.2f} ms); "
                f"from stop() until the supervisor closed {closed * 1e3:.2f} ms",
                flush=True,
            )
    for kind in ("task", "actor"):
        pairs = [(n, results[kind, n], results.get((kind, n // 2))) for n in sizes]
        growth = ", ".join(f"{n // 2}->{n}: {t / h:.2f}x" for n, t, h in pairs if h)
        print(f"growth, {kind} children (2.00x is linear): {growth}")
    t = results.get(("actor", TARGET_N), math.nan)
    verdict = "MET" if t <= TARGET_S else "MISSED"
    print(f"target: {TARGET_N:,} actor children stop in <= {TARGET_S} s: {t:.3f} s {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    trio.run(main, parser.parse_args().quick)
