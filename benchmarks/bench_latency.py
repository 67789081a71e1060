"""Call latency under load: ``host.call`` p50/p99 while busy actors take a
steady stream of casts, next to pykka's in the same run.

    python benchmarks/bench_latency.py                 # 100k casts/s, 3 s, 3 repeats
    python benchmarks/bench_latency.py 20000 2         # casts/s, seconds per figure
    python benchmarks/bench_latency.py --trace         # + where a call's time goes
    python benchmarks/bench_latency.py --switch-interval 0.0005   # GIL experiment
    python benchmarks/bench_latency.py --yield-us 50   # the proposed fix, patched in

Each figure is run ``--repeats`` times, interleaved (hostkit 100, 1,000,
pykka 100, 1,000, then again), and printed as the median and the range of
the repeats' p50 and p99. Next to it, from the same window:

- the cast rate the load generator *reached* and the casts refused
  (``MailboxFull``), and the backlog left in the busy actors' mailboxes:
  100k casts/s is asked, not assumed;
- CPU: the share of the machine's cores busy (every process: other jobs on
  a shared machine show here), this process's, and its threads' (the Trio
  thread, which generates the load and receives every reply, and each
  scheduler thread);
- GIL: how late a thread that sleeps 1 ms wakes up (``_load.GilProbe``):
  the wait for the GIL that every Trio <-> scheduler-thread hand-off pays.

Setup. hostkit: a host with 2 scheduler threads, ``N`` busy ``echo`` actors
and one separate ``echo`` target; one Trio task casts round-robin at the
asked rate (in chunks of at most 100 sends, then a checkpoint), another
calls the target in a loop, 1 ms apart, and records each round trip.
pykka (unsandboxed Python threads): ``N`` busy ``ThreadingActor``s, a
thread ``tell``s at the same rate, the main thread ``ask``s an echo actor.

``--trace`` patches the host's internals (benchmark-only) to time every
call's spans -- submit (Trio: ``start_call``), queue (until a scheduler
thread starts the target's activation), run (that activation), wake (until
the Trio thread drains the reply), resume (until ``await host.call``
returns) -- and every activation's length and batch. It adds a little
overhead of its own.

Issue 11's targets: p99 <= 2 ms at 1,000 busy actors, and below pykka's p99
at 100.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import hostkit

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402
from _load import CpuProbe, GilProbe, cpu_text, loadavg, med_range, pct  # noqa: E402

SPANS = ("submit", "queue", "run", "wake", "resume")


class Run:
    """One measurement window's results."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.asked = 0.0
        self.achieved = 0.0
        self.refused = 0
        self.backlog = 0
        self.cpu: dict[str, float] = {}
        self.gil_late: list[float] = []
        self.spans: list[dict[str, float]] = []
        self.activations: list[float] = []
        self.batches: list[int] = []

    @property
    def p50(self) -> float:
        return pct(self.samples, 0.5)

    @property
    def p99(self) -> float:
        return pct(self.samples, 0.99)


class Trace:
    """Times a call's spans and every activation by wrapping host internals
    (instance attributes only; nothing in hostkit is edited)."""

    def __init__(self, host: hostkit.Host, target: hostkit.Pid, run: Run) -> None:
        sched, router = host._sched, host._router
        self.run = run
        self.cur: dict[str, float] | None = None
        self.on = False
        target_actor = sched.actors[target.id]
        clock = time.perf_counter
        activate, take, post = sched.activate, router.take, host._post
        start_call = router.start_call

        def timed_activate(actor: Any) -> None:
            t = clock()
            cur = self.cur
            if actor is target_actor and cur is not None and "act0" not in cur:
                cur["act0"] = t
                activate(actor)
                cur["act1"] = clock()
                return
            activate(actor)
            if self.on:
                run.activations.append(clock() - t)

        def timed_take(actor: Any, n: int) -> bytes:
            before = len(actor.mailbox)
            out = take(actor, n)
            if self.on and actor is not target_actor:
                run.batches.append(before - len(actor.mailbox))
            return out

        def timed_start_call(*a: Any, **k: Any) -> Any:
            out = start_call(*a, **k)
            if self.cur is not None:
                self.cur["pushed"] = clock()
            return out

        def timed_post(fn: Callable[[], None]) -> None:
            cur = self.cur
            if cur is None or not isinstance(getattr(fn, "__self__", None), trio.Event):
                post(fn)
                return

            def set_event() -> None:  # runs on the Trio thread, in the inbox's drain
                cur.setdefault("drain", clock())
                fn()

            post(set_event)

        sched.activate = timed_activate
        router.take = timed_take
        router.start_call = timed_start_call
        host._post = timed_post  # type: ignore[method-assign]

    def begin(self) -> None:
        self.cur = {"t0": time.perf_counter()}

    def end(self) -> None:
        cur, self.cur = self.cur, None
        assert cur is not None
        t1 = time.perf_counter()
        if self.on and {"pushed", "act0", "act1", "drain"} <= cur.keys():
            self.run.spans.append(
                {
                    "submit": cur["pushed"] - cur["t0"],
                    "queue": cur["act0"] - cur["pushed"],
                    "run": cur["act1"] - cur["act0"],
                    "wake": cur["drain"] - cur["act1"],
                    "resume": t1 - cur["drain"],
                    "total": t1 - cur["t0"],
                }
            )


async def hostkit_latency(
    busy_n: int, rate: float, seconds: float, priority: bool = True, trace: bool = False
) -> Run:
    run = Run()
    run.asked = rate
    cfg = hostkit.HostConfig(scheduler_threads=2, mailbox_capacity=100_000)
    async with hostkit.open_host(cfg) as host:
        host._sched.priority = priority  # False: the FIFO scheduler, for the baseline
        echo = host.load(plugin_build.build_wat("echo"))
        busy = [await host.spawn(echo) for _ in range(busy_n)]
        target = await host.spawn(echo)
        for _ in range(200):
            await host.call(target, "warm")
        tracer = Trace(host, target, run) if trace else None
        threads = {"trio": threading.get_native_id()}
        for i, t in enumerate(host._sched._threads):
            assert t.native_id is not None
            threads[f"sched-{i}"] = t.native_id
        cpu = CpuProbe(threads)
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
                    try:
                        host.send(busy[sent % busy_n], "x")
                    except hostkit.MailboxFull:
                        run.refused += 1
                    sent += 1
                if due - sent > 0:
                    await trio.lowlevel.checkpoint()
                else:
                    await trio.sleep(0.0005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(load)
            await trio.sleep(0.3)  # reach a steady state first
            refused0 = run.refused
            with GilProbe() as gil:
                t0, s0 = time.perf_counter(), sent
                cpu.start()
                if tracer is not None:
                    tracer.on = True
                while time.perf_counter() - t0 < seconds:
                    if tracer is not None:
                        tracer.begin()
                    t = time.perf_counter()
                    await host.call(target, "x", timeout=30)
                    run.samples.append(time.perf_counter() - t)
                    if tracer is not None:
                        tracer.end()
                    await trio.sleep(0.001)
                run.cpu = cpu.stop()
                run.achieved = (sent - s0 - (run.refused - refused0)) / (time.perf_counter() - t0)
                run.refused -= refused0
                if tracer is not None:
                    tracer.on = False
            run.gil_late = gil.late
            run.backlog = sum(len(host._sched.actors[p.id].mailbox) for p in busy)
            done = True
    return run


def pykka_latency(busy_n: int, rate: float, seconds: float) -> Run:
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

    run = Run()
    run.asked = rate
    busy = [Busy.start() for _ in range(busy_n)]
    target = Echo.start()
    stop = threading.Event()
    sent = 0
    loader_tid = [0]

    def load() -> None:
        nonlocal sent
        loader_tid[0] = threading.get_native_id()
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
        cpu = CpuProbe({"main": threading.get_native_id(), "loader": loader_tid[0]})
        with GilProbe() as gil:
            cpu.start()
            t0, s0 = time.perf_counter(), sent
            while time.perf_counter() - t0 < seconds:
                t = time.perf_counter()
                target.ask("x", timeout=30)
                run.samples.append(time.perf_counter() - t)
                time.sleep(0.001)
            run.achieved = (sent - s0) / (time.perf_counter() - t0)
            run.cpu = cpu.stop()
        run.gil_late = gil.late
        run.backlog = sum(a.actor_inbox.qsize() for a in busy)  # type: ignore[attr-defined]
    finally:
        stop.set()
        loader.join()
        pykka.ActorRegistry.stop_all()
    return run


def summary(name: str, runs: list[Run], threads: tuple[str, ...]) -> None:
    p50 = med_range([r.p50 for r in runs], 1e3, "{:.3f}")
    p99 = med_range([r.p99 for r in runs], 1e3, "{:.3f}")
    print(f"{name:<40} p50 {p50} ms  p99 {p99} ms", flush=True)
    rate = med_range([r.achieved for r in runs], 1e-3, "{:.1f}")
    gil = med_range([pct(r.gil_late, 0.99) for r in runs], 1e3, "{:.2f}")
    n = statistics.median(len(r.samples) for r in runs)
    print(
        f"    load {rate}k casts/s reached of {runs[0].asked / 1e3:.0f}k asked, "
        f"refused {max(r.refused for r in runs)}, backlog {max(r.backlog for r in runs)}; "
        f"{n:.0f} calls/repeat; GIL-probe lateness p99 {gil} ms",
        flush=True,
    )
    cpu = {k: statistics.median(r.cpu[k] for r in runs) for k in runs[0].cpu}
    print(f"    cpu (cores, median): {cpu_text(cpu, threads)}", flush=True)
    each = ", ".join(f"{r.p99 * 1e3:.2f} ms ({others(r):.2f})" for r in runs)
    print(f"    p99 of each repeat (other processes' cores): {each}", flush=True)


def others(r: Run) -> float:
    """Cores the machine's other processes used during the window."""
    return max(0.0, r.cpu["machine"] - r.cpu["process"])


def trace_summary(runs: list[Run]) -> None:
    spans = [s for r in runs for s in r.spans]
    if not spans:
        return
    spans.sort(key=lambda s: s["total"])
    slow = spans[int(0.99 * len(spans)) :]
    mid = spans[: len(spans) // 2 + 1][-len(slow) :]

    def mean_ms(rows: list[dict[str, float]], k: str) -> str:
        return f"{statistics.fmean(s[k] for s in rows) * 1e3:.3f}"

    print("    where a call's time goes (mean ms: around the median / the slowest 1%):")
    for k in SPANS:
        print(f"      {k:<7} {mean_ms(mid, k):>7} / {mean_ms(slow, k):>7}")
    acts = [a for r in runs for a in r.activations]
    batches = [b for r in runs for b in r.batches]
    if acts:
        print(
            f"    busy activations: {len(acts) / len(runs):.0f}/repeat, length p50 "
            f"{pct(acts, 0.5) * 1e6:.0f} us p99 {pct(acts, 0.99) * 1e6:.0f} us max "
            f"{max(acts) * 1e3:.2f} ms; batch p50 {pct(batches, 0.5)} p99 "
            f"{pct(batches, 0.99)} frames",
            flush=True,
        )


def yield_after_wake(seconds: float) -> None:
    """The change docs/performance.md proposes, as an experiment in this
    process only: after an activation that posted results to Trio, the
    scheduler thread releases the GIL for ``seconds``, so the Trio thread
    takes it now rather than after a switch interval."""
    from hostkit.runtime import _handles

    flush = _handles.TrioInbox.flush

    def flush_then_yield(self: Any, deferred: list[Callable[[], None]]) -> None:
        posted = bool(deferred)
        flush(self, deferred)
        if posted:
            time.sleep(seconds)

    _handles.TrioInbox.flush = flush_then_yield  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> dict[str, list[Run]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rate", nargs="?", type=float, default=100_000, help="casts/s asked")
    ap.add_argument("seconds", nargs="?", type=float, default=3.0, help="per figure")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy", default="100,1000", help="busy actor counts, comma-separated")
    ap.add_argument("--trace", action="store_true", help="time each call's spans")
    ap.add_argument("--fifo", action="store_true", help="also the FIFO-only scheduler")
    ap.add_argument("--no-pykka", action="store_true")
    ap.add_argument("--pykka-busy", default="100", help="busy counts for pykka (1000: threads)")
    ap.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval")
    ap.add_argument(
        "--yield-us",
        type=float,
        default=0.0,
        help="experiment: a scheduler thread that has just woken Trio sleeps this long",
    )
    args = ap.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    if args.yield_us:
        yield_after_wake(args.yield_us * 1e-6)
    sizes = [int(x) for x in args.busy.split(",")]
    print(
        f"asked load {args.rate / 1000:.0f}k casts/s, {args.seconds} s per figure, "
        f"{args.repeats} repeats; switch interval {sys.getswitchinterval() * 1e3:g} ms; "
        f"yield after waking Trio {args.yield_us:g} us; "
        f"load average before: {loadavg()}",
        flush=True,
    )
    figures: dict[str, Callable[[int], Run]] = {}
    for n in sizes:
        figures[f"hostkit host.call, {n} busy"] = lambda n=n: trio.run(  # type: ignore[misc]
            hostkit_latency, n, args.rate, args.seconds, True, args.trace
        )
        if args.fifo:
            figures[f"  FIFO only (before), {n} busy"] = lambda n=n: trio.run(  # type: ignore[misc]
                hostkit_latency, n, args.rate, args.seconds, False
            )
        if not args.no_pykka and str(n) in args.pykka_busy.split(","):
            figures[f"pykka ask, {n} busy (baseline)"] = lambda n=n: pykka_latency(  # type: ignore[misc]
                n, args.rate, args.seconds
            )
    results: dict[str, list[Run]] = {k: [] for k in figures}
    for _ in range(args.repeats):
        for name, fn in figures.items():
            results[name].append(fn())
    for name, runs in results.items():
        pyk = name.startswith("pykka")
        summary(name, runs, ("main", "loader") if pyk else ("trio", "sched-0", "sched-1"))
        trace_summary(runs)
    print(f"load average after: {loadavg()}")
    verdicts = []
    if 1000 in sizes:
        p99 = statistics.median(r.p99 for r in results["hostkit host.call, 1000 busy"])
        verdicts.append(
            f"p99 at 1,000 busy {p99 * 1e3:.3f} ms (target <= 2 ms: "
            f"{'MET' if p99 <= 0.002 else 'MISSED'})"
        )
    if 100 in sizes and not args.no_pykka:
        h = statistics.median(r.p99 for r in results["hostkit host.call, 100 busy"])
        p = statistics.median(r.p99 for r in results["pykka ask, 100 busy (baseline)"])
        verdicts.append(
            f"p99 at 100 busy: hostkit {h * 1e3:.3f} ms vs pykka {p * 1e3:.3f} ms "
            f"(target below pykka: {'MET' if h < p else 'MISSED'})"
        )
    print("; ".join(verdicts), flush=True)
    busiest = max(others(r) for runs in results.values() for r in runs)
    if busiest > 0.3:
        print(
            f"note: other processes used up to {busiest:.2f} cores during these windows; "
            "hostkit needs about one core of Python at 100k casts/s, so a p99 measured "
            "while others took more than ~0.3 cores mostly measures waiting for a CPU "
            "(see docs/performance.md)",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
