"""What embedding costs: a host call through each facade, next to the Trio API.

Run: ``python benchmarks/bench_embedding.py`` (``--quick`` for a short run,
``--json`` for machine-readable output).

Four ways to drive the same host and the same ``echo`` guest, measured in the
same run, rounds interleaved (round r of every design runs before round r+1
of any, so a noisy neighbour slows all of them alike):

- ``trio``: ``hostkit.open_host`` under ``trio.run``: the reference;
- ``blocking``: ``hostkit.blocking`` from plain threads;
- ``aio-thread``: ``hostkit.aio`` with Trio in a thread of its own;
- ``aio-guest``: ``hostkit.aio`` with Trio as a guest on the asyncio loop.

Per design and round:

- ``call``: sequential ``call`` round trips (one caller), us per call;
- ``hop``: sequential ``is_alive`` (no guest, no scheduler thread): what the
  facade's own crossing costs, us per call;
- ``throughput``: ``--callers`` concurrent callers (Trio/asyncio tasks;
  threads for ``blocking``), each making ``--calls`` calls, on two echo
  actors: calls per second;
- ``cpu``: during ``throughput``, CPU time of the whole process (all
  threads) per call: the work a call costs, less at the mercy of a busy
  machine's scheduling than the wall-clock figures.

Each figure is the median over rounds, with the range (min-max).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402

import hostkit  # noqa: E402
import hostkit.aio  # noqa: E402
import hostkit.blocking  # noqa: E402

Figures = dict[str, float]


def _config(cache: Path) -> hostkit.HostConfig:
    return hostkit.HostConfig(scheduler_threads=2, cache_dir=cache)


def _per_call_us(start: float, calls: int) -> float:
    return (time.perf_counter() - start) / calls * 1e6


def _throughput(out: Figures, start: float, cpu_start: float, calls: int) -> None:
    out["throughput"] = calls / (time.perf_counter() - start)
    # CPU time of the whole process (every thread) per call: less at the
    # mercy of a busy machine's scheduling than wall-clock figures.
    out["cpu"] = (time.process_time() - cpu_start) / calls * 1e6


# -- the four designs, one round each -----------------------------------------------------


def round_trio(echo: Path, cache: Path, n: int, callers: int, calls: int) -> Figures:
    out: Figures = {}

    async def main() -> None:
        async with hostkit.open_host(_config(cache)) as host:
            comp = host.load(echo)
            pids = [await host.spawn(comp), await host.spawn(comp)]
            for _ in range(50):
                await host.call(pids[0], "warm")
            t = time.perf_counter()
            for _ in range(n):
                await host.call(pids[0], "x")
            out["call"] = _per_call_us(t, n)
            t = time.perf_counter()
            for _ in range(n):
                host.is_alive(pids[0])
                await trio.lowlevel.checkpoint()  # a Trio method is not a crossing
            out["hop"] = _per_call_us(t, n)

            async def caller(i: int) -> None:
                for _ in range(calls):
                    await host.call(pids[i % 2], "x")

            t, cpu = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                for i in range(callers):
                    nursery.start_soon(caller, i)
            _throughput(out, t, cpu, callers * calls)

    trio.run(main)
    return out


def round_blocking(echo: Path, cache: Path, n: int, callers: int, calls: int) -> Figures:
    out: Figures = {}
    with hostkit.blocking.open_host(_config(cache)) as host:
        comp = host.load(echo)
        pids = [host.spawn(comp), host.spawn(comp)]
        for _ in range(50):
            host.call(pids[0], "warm")
        t = time.perf_counter()
        for _ in range(n):
            host.call(pids[0], "x")
        out["call"] = _per_call_us(t, n)
        t = time.perf_counter()
        for _ in range(n):
            host.is_alive(pids[0])
        out["hop"] = _per_call_us(t, n)

        def caller(i: int) -> None:
            for _ in range(calls):
                host.call(pids[i % 2], "x")

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
        t, cpu = time.perf_counter(), time.process_time()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        _throughput(out, t, cpu, callers * calls)
    return out


def _round_aio(mode: str) -> Callable[[Path, Path, int, int, int], Figures]:
    def one(echo: Path, cache: Path, n: int, callers: int, calls: int) -> Figures:
        out: Figures = {}

        async def main() -> None:
            async with hostkit.aio.open_host(_config(cache), mode=mode) as host:  # type: ignore[arg-type]
                comp = await host.load(echo)
                pids = [await host.spawn(comp), await host.spawn(comp)]
                for _ in range(50):
                    await host.call(pids[0], "warm")
                t = time.perf_counter()
                for _ in range(n):
                    await host.call(pids[0], "x")
                out["call"] = _per_call_us(t, n)
                t = time.perf_counter()
                for _ in range(n):
                    await host.is_alive(pids[0])
                out["hop"] = _per_call_us(t, n)

                async def caller(i: int) -> None:
                    for _ in range(calls):
                        await host.call(pids[i % 2], "x")

                t, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(caller(i) for i in range(callers)))
                _throughput(out, t, cpu, callers * calls)

        asyncio.run(main())
        return out

    return one


DESIGNS: dict[str, Callable[[Path, Path, int, int, int], Figures]] = {
    "trio": round_trio,
    "blocking": round_blocking,
    "aio-thread": _round_aio("thread"),
    "aio-guest": _round_aio("guest"),
}
UNITS = {"call": "us/call", "hop": "us/call", "throughput": "calls/s", "cpu": "us/call"}


def measure(rounds: int, n: int, callers: int, calls: int) -> dict[str, Any]:
    """Run every design ``rounds`` times, interleaved; medians and ranges.

    For ``benchmarks/run.py`` too: ``measure(5, 2000, 16, 100)["figures"]``.
    """
    echo = plugin_build.build_wat("echo")
    samples: dict[str, dict[str, list[float]]] = {d: {m: [] for m in UNITS} for d in DESIGNS}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for _ in range(rounds):
            for design, run in DESIGNS.items():
                for metric, value in run(echo, cache, n, callers, calls).items():
                    samples[design][metric].append(value)
    return {
        "rounds": rounds,
        "sequential_calls": n,
        "callers": callers,
        "calls_per_caller": calls,
        "loadavg": os.getloadavg(),
        "figures": {
            d: {
                m: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for m, v in per.items()
            }
            for d, per in samples.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 short rounds")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100, help="calls per concurrent caller")
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rounds, n, calls = (3, 300, 30) if args.quick else (args.rounds, 2000, args.calls)
    result = measure(rounds, n, args.callers, calls)
    load = result["loadavg"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{rounds} rounds; {n} sequential calls; {args.callers} callers x {calls} calls; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"{'design':<12} {'metric':<11} {'median':>10} {'range':>21}  {'vs trio':>8}")
    for metric, unit in UNITS.items():
        ref = result["figures"]["trio"][metric]["median"]
        for design in DESIGNS:
            f = result["figures"][design][metric]
            ratio = f["median"] / ref if ref else float("nan")
            print(
                f"{design:<12} {metric:<11} {f['median']:>10.1f} "
                f"{f['min']:>9.1f}-{f['max']:<9.1f} {unit:<8} {ratio:>5.2f}x"
            )


if __name__ == "__main__":
    main()
