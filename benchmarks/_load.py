"""Helpers the benchmarks share: CPU and GIL probes, percentiles, a table row.

Not a benchmark itself. ``CpuProbe`` reads ``/proc`` (Linux): the machine's
busy share over all cores (every process, so other jobs on a shared machine
show up), this process's CPU and each named thread's. ``GilProbe`` runs a
thread that sleeps 1 ms in a loop and records how late it wakes: on an idle
machine that is the timer's slack (~0.1 ms); past that it is the time the
thread waited to get the GIL (or a core) back, which is what every hand-off
between the Trio thread and a scheduler thread pays too.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence

_TICK = os.sysconf("SC_CLK_TCK")


def pct(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` (nearest rank)."""
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def med_range(values: Sequence[float], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    v = [x * scale for x in values]
    m = fmt.format(statistics.median(v))
    return f"{m} ({fmt.format(min(v))}-{fmt.format(max(v))})"


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def _thread_ticks(tid: int) -> int:
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:  # the thread ended
        return 0
    return int(rest[11]) + int(rest[12])  # utime + stime


class CpuProbe:
    """CPU use between :meth:`start` and :meth:`stop`, in cores (1.0 = one
    core fully busy). ``threads`` maps a label to a native thread id."""

    def __init__(self, threads: dict[str, int] | None = None) -> None:
        self.threads = dict(threads or {})
        self.result: dict[str, float] = {}

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._machine = _machine_ticks()
        t = os.times()
        self._proc = t.user + t.system
        self._per = {k: _thread_ticks(tid) for k, tid in self.threads.items()}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._wall
        busy0, total0 = self._machine
        busy1, total1 = _machine_ticks()
        cores = os.cpu_count() or 1
        t = os.times()
        r = {
            "cores": float(cores),
            # share of all cores busy, any process
            "machine": cores * (busy1 - busy0) / max(1, total1 - total0),
            "process": (t.user + t.system - self._proc) / wall,
        }
        for k, tid in self.threads.items():
            r[k] = (_thread_ticks(tid) - self._per[k]) / _TICK / wall
        self.result = r
        return r


def cpu_text(r: dict[str, float], threads: Sequence[str] = ()) -> str:
    parts = [
        f"machine {r['machine']:.2f}/{r['cores']:.0f} cores busy",
        f"this process {r['process']:.2f}",
        f"others {max(0.0, r['machine'] - r['process']):.2f}",
    ]
    parts += [f"{k} {r[k]:.2f}" for k in threads if k in r]
    return ", ".join(parts)


class GilProbe:
    """A thread that sleeps 1 ms in a loop and records how late it wakes up
    (seconds past the 1 ms): the wait for the GIL (and a core) that any
    thread hand-off pays at that moment."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gil-probe", daemon=True)

    def _run(self) -> None:
        clock, sleep, late = time.perf_counter, time.sleep, self.late
        while not self._stop.is_set():
            t = clock()
            sleep(0.001)
            late.append(clock() - t - 0.001)

    def __enter__(self) -> GilProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
