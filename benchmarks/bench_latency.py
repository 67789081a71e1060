"""Call latency under load: ``host.call`` p50/p99 while busy actors take a
steady stream of casts, next to pykka's in the same run.

    python benchmarks/bench_latency.py              # rate 100k casts/s, 3 s per figure
    python benchmarks/bench_latency.py 20000 2      # casts/s, seconds per figure

Figures (all from one run, one machine):

- hostkit, 100 and 1,000 busy echo actors: one Trio task casts round-robin
  at the asked rate (the rate it reached is printed: the Trio thread and
  the two scheduler threads share the machine), another calls a separate
  echo actor in a loop, 1 ms apart, and records each round trip.
- the same with the priority deque switched off (every wake-up FIFO, the
  scheduler before issue 11): the same-run baseline of the change.
- pykka (unsandboxed Python threads), 100 busy ``ThreadingActor``s: a thread
  ``tell``s at the same rate, the main thread ``ask``s an echo actor.

Issue 11's targets: p99 <= 2 ms at 1,000 busy actors, and below pykka's p99
at 100.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path
from typing import Any

import trio

import hostkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def line(name: str, samples: list[float], rate: float, extra: str = "") -> None:
    print(
        f"{name:<44} p50 {pct(samples, 0.5) * 1e3:7.3f} ms  p99 {pct(samples, 0.99) * 1e3:7.3f} ms"
        f"  ({len(samples)} calls, load {rate / 1000:6.1f}k casts/s){extra}",
        flush=True,
    )


async def hostkit_latency(
    busy_n: int, rate: float, seconds: float, priority: bool = True
) -> tuple[list[float], float]:
    cfg = hostkit.HostConfig(scheduler_threads=2, mailbox_capacity=100_000)
    async with hostkit.open_host(cfg) as host:
        host._sched.priority = priority  # False: the FIFO scheduler, for the baseline
        echo = host.load(plugin_build.build_wat("echo"))
        busy = [await host.spawn(echo) for _ in range(busy_n)]
        target = await host.spawn(echo)
        for _ in range(200):
            await host.call(target, "warm")
        samples: list[float] = []
        sent = 0
        done = False

        async def load() -> None:
            nonlocal sent
            t0 = time.perf_counter()
            while not done:
                due = int((time.perf_counter() - t0) * rate)
                # small chunks: a long run of sends would hold up the Trio
                # loop (and with it every reply) by itself
                for _ in range(min(due - sent, 100)):
                    with contextlib.suppress(hostkit.MailboxFull):
                        host.send(busy[sent % busy_n], "x")
                    sent += 1
                if due - sent > 0:
                    await trio.lowlevel.checkpoint()
                else:
                    await trio.sleep(0.0005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(load)
            await trio.sleep(0.3)  # reach a steady state first
            t0, s0 = time.perf_counter(), sent
            while time.perf_counter() - t0 < seconds:
                t = time.perf_counter()
                await host.call(target, "x", timeout=30)
                samples.append(time.perf_counter() - t)
                await trio.sleep(0.001)
            achieved = (sent - s0) / (time.perf_counter() - t0)
            done = True
        return samples, achieved


def pykka_latency(busy_n: int, rate: float, seconds: float) -> tuple[list[float], float]:
    import pykka

    class Busy(pykka.ThreadingActor):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def on_receive(self, message: Any) -> None:
            self.n += 1

    class Echo(pykka.ThreadingActor):  # type: ignore[misc]
        def on_receive(self, message: Any) -> Any:
            return message

    busy = [Busy.start() for _ in range(busy_n)]
    target = Echo.start()
    stop = threading.Event()
    sent = 0

    def load() -> None:
        nonlocal sent
        t0 = time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - t0) * rate)
            for _ in range(min(due - sent, 100)):
                busy[sent % busy_n].tell("x")
                sent += 1
            if due - sent <= 0:
                time.sleep(0.0005)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        for _ in range(200):
            target.ask("warm")
        time.sleep(0.3)
        samples: list[float] = []
        t0, s0 = time.perf_counter(), sent
        while time.perf_counter() - t0 < seconds:
            t = time.perf_counter()
            target.ask("x", timeout=30)
            samples.append(time.perf_counter() - t)
            time.sleep(0.001)
        achieved = (sent - s0) / (time.perf_counter() - t0)
    finally:
        stop.set()
        loader.join()
        pykka.ActorRegistry.stop_all()
    return samples, achieved


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    print(f"target load {rate / 1000:.0f}k casts/s, {seconds} s per figure", flush=True)
    results: dict[str, float] = {}
    for busy_n in (100, 1000):
        samples, achieved = trio.run(hostkit_latency, busy_n, rate, seconds)
        results[f"hostkit {busy_n}"] = pct(samples, 0.99)
        line(f"hostkit host.call, {busy_n} busy actors", samples, achieved)
        samples, achieved = trio.run(hostkit_latency, busy_n, rate, seconds, False)
        line(f"  same, FIFO only (before), {busy_n} busy", samples, achieved)
    samples, achieved = pykka_latency(100, rate, seconds)
    results["pykka 100"] = pct(samples, 0.99)
    line("pykka ask, 100 busy actors (baseline)", samples, achieved)
    print(
        f"p99 at 1,000 busy: {results['hostkit 1000'] * 1e3:.3f} ms (target <= 2 ms); "
        f"p99 at 100 busy: hostkit {results['hostkit 100'] * 1e3:.3f} ms vs pykka "
        f"{results['pykka 100'] * 1e3:.3f} ms (target: below pykka)",
        flush=True,
    )


if __name__ == "__main__":
    main()
