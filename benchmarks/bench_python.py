"""Python-guest figures, each next to raw wasmtime-py doing the same in the same run.

    python benchmarks/bench_python.py              # 3 repeats (about 3-6 minutes)
    python benchmarks/bench_python.py --quick      # 1 compile, 3 of the rest (about 1-2 minutes)
    python benchmarks/run.py python                # the same, from run.py

The guest is ``plugins/python/counter`` (componentize-py, ~19 MB), built
and cached the way the tests build it (``plugins/build/counter.wasm``,
digest-cached: the first build takes a minute, later ones a digest check).

Each figure, hostkit then its raw wasmtime-py baseline (public API):

- first compile: ``await host.load_async`` with an empty compile cache;
  raw: ``Component(engine, bytes)``.
- cached load: ``load_async`` in a new host with a warm compile cache; raw:
  ``Component.deserialize_file`` of the serialized component.
- spawn (incl. init): ``await host.spawn(counter)``, one after another; raw:
  a Store with empty WASI, ``Linker.instantiate``, a call of ``init``.
- RSS per idle actor: RSS growth over ``--actors`` spawned actors; raw: the
  same over as many raw instances after ``init``.
- call round trip: ``await host.call(pid, '{"op": "echo", "v": 1}')``; raw:
  the ``deliver`` export with one ``q`` frame, the reply decoded.
- one-way message: 5,000 ``host.send`` casts ``{"op": "inc"}`` into one
  actor, then a ``get`` call that confirms them, per message; raw:
  ``deliver`` with one ``c`` frame per call (and, as a floor, 64 per call:
  the guest's own work per message).

Spawn and memory are measured in a fresh child process per repeat (one for
hostkit, one for raw), so neither side inherits the other's heap. Every
figure is the median of ``--repeats`` repeats, with the range; the two sides
of a figure run interleaved. The machine's load is printed before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

import hostkit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "plugins"))
import _python_guest  # noqa: E402
from _load import loadavg  # noqa: E402

COUNTER_APP = ROOT / "plugins" / "python" / "counter"
BUILD = ROOT / "plugins" / "build"
ACTOR_IFACE = "hostkit:plugin/actor@0.1.0"
RESULTS: list[tuple[str, str, str, str]] = []


def counter_wasm() -> Path:
    """The counter guest, built once per checkout (digest-cached, as the tests do)."""
    return Path(_python_guest.build_python_guest(COUNTER_APP, BUILD / "counter.wasm"))


def frame(kind: bytes, pid: int, ref: int, payload: bytes) -> str:
    """One inbound frame of hostkit's protocol (see ``wit/plugin/plugin.wit``)."""
    return (kind + b"%016x%016x%08x" % (pid, ref, len(payload)) + payload).decode()


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


# -- raw wasmtime-py (public API) ----------------------------------------------------


class Raw:
    """The counter through wasmtime-py's public component API, engine set up
    as hostkit's (epoch interruption + fuel), empty WASI, no hostkit."""

    def __init__(self, path: Path, serialized: Path | None = None) -> None:
        import wasmtime
        from wasmtime import component as wc

        self.wasmtime, self.wc = wasmtime, wc
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = True
        self.engine = wasmtime.Engine(cfg)
        if serialized is not None:  # compiled earlier in this run
            self.comp = wc.Component.deserialize_file(self.engine, str(serialized))
        else:
            self.comp = wc.Component(self.engine, path.read_bytes())
        self.linker = wc.Linker(self.engine)
        self.linker.add_wasip2()
        # hostkit's own imports, as functions that fail: the counter does not
        # call them for what is measured here (define_unknown_imports_as_traps
        # would also shadow the WASI versions add_wasip2 matches by semver)
        with self.linker.root() as root:
            with root.add_instance("hostkit:plugin/types@0.1.0"):
                pass
            with root.add_instance("hostkit:plugin/process@0.1.0") as proc:
                for fname in _process_functions():
                    proc.add_func(fname, _unexpected)

    def instance(self) -> tuple[Any, Any, Any]:
        """(store, init, deliver) of a fresh instance; init not called."""
        store = self.wasmtime.Store(self.engine)
        store.set_fuel(10**12)
        store.set_epoch_deadline(10**9)
        store.set_wasi(self.wasmtime.WasiConfig())
        inst = self.linker.instantiate(store, self.comp)
        iface = inst.get_export_index(store, ACTOR_IFACE)
        init = inst.get_func(store, inst.get_export_index(store, "init", iface))
        deliver = inst.get_func(store, inst.get_export_index(store, "deliver", iface))
        return store, init, deliver

    def spawn(self) -> tuple[Any, Any]:
        store, init, deliver = self.instance()
        init(store, "")
        return store, deliver


def _process_functions() -> list[str]:
    """The function names of WIT interface ``process`` (wit/plugin/plugin.wit)."""
    text = (ROOT / "wit" / "plugin" / "plugin.wit").read_text()
    body = text.split("interface process {", 1)[1].split("\n}", 1)[0]
    return re.findall(r"^    ([a-z][a-z0-9-]*): func", body, re.M)


def _unexpected(store: Any, *args: Any) -> Any:
    raise RuntimeError("the raw baseline does not provide hostkit's imports")


def raw_compile_s(path: Path) -> tuple[float, Raw]:
    t = time.perf_counter()
    raw = Raw(path)
    return time.perf_counter() - t, raw


def raw_load_s(serialized: Path) -> float:
    import wasmtime
    from wasmtime import component as wc

    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    cfg.consume_fuel = True
    engine = wasmtime.Engine(cfg)
    t = time.perf_counter()
    wc.Component.deserialize_file(engine, str(serialized))
    return time.perf_counter() - t


def raw_call_us(raw: Raw, n: int) -> float:
    store, deliver = raw.spawn()
    payload = b'{"op": "echo", "v": 1}'
    for i in range(50):
        deliver(store, frame(b"q", 0, i + 1, payload))
    t = time.perf_counter()
    for i in range(n):
        out = deliver(store, frame(b"q", 0, i + 1, payload))
        json.loads(out[41:])  # the reply's payload, as host.call's caller decodes it
    return (time.perf_counter() - t) / n * 1e6


def raw_cast_us(raw: Raw, n: int, batch: int) -> float:
    store, deliver = raw.spawn()
    one = frame(b"c", 0, 0, b'{"op": "inc"}')
    msgs = one * batch
    t = time.perf_counter()
    for _ in range(n // batch):
        deliver(store, msgs)
    return (time.perf_counter() - t) / (n // batch * batch) * 1e6


# -- hostkit -------------------------------------------------------------------


def config(cache: Path) -> hostkit.HostConfig:
    return hostkit.HostConfig(scheduler_threads=2, cache_dir=cache)


async def hostkit_load_s(path: Path, cache: Path) -> float:
    async with hostkit.open_host(config(cache)) as host:
        t = time.perf_counter()
        await host.load_async(path)
        return time.perf_counter() - t


async def hostkit_call_and_cast(
    path: Path, cache: Path, calls: int, casts: int
) -> tuple[float, float]:
    """(us per call round trip, us per cast end to end)."""
    async with hostkit.open_host(config(cache)) as host:
        counter = await host.load_async(path)
        pid = await host.spawn(counter)
        msg = json.dumps({"op": "echo", "v": 1})
        for _ in range(50):
            await host.call(pid, msg)
        t = time.perf_counter()
        for _ in range(calls):
            json.loads(await host.call(pid, msg))
        call_us = (time.perf_counter() - t) / calls * 1e6
        inc, get = json.dumps({"op": "inc"}), json.dumps({"op": "get"})
        before = json.loads(await host.call(pid, get))
        t = time.perf_counter()
        for i in range(casts):
            host.send(pid, inc)
            if i % 1000 == 999:
                await trio.lowlevel.checkpoint()
        assert json.loads(await host.call(pid, get, timeout=120)) == before + casts
        cast_us = (time.perf_counter() - t) / casts * 1e6
        return call_us, cast_us


# -- spawn + memory, one child process per side and repeat ----------------------------


def child(side: str, path: Path, cache: Path, serialized: Path, n: int) -> None:
    """Runs in a fresh process: spawn ``n`` counters, print JSON (us per spawn
    median and range, KiB per idle actor)."""
    times: list[float] = []
    if side == "raw":
        raw = Raw(path, serialized)
        keep = [raw.spawn()]  # one first: the engine's own first-instance costs
        gc.collect()
        rss0 = rss_kib()
        for _ in range(n):
            t = time.perf_counter()
            keep.append(raw.spawn())
            times.append(time.perf_counter() - t)
        gc.collect()
        kib = (rss_kib() - rss0) / n
    else:

        async def run() -> float:
            async with hostkit.open_host(config(cache)) as host:
                counter = await host.load_async(path)
                await host.spawn(counter)
                gc.collect()
                rss0 = rss_kib()
                pids = []
                for _ in range(n):
                    t = time.perf_counter()
                    pids.append(await host.spawn(counter))
                    times.append(time.perf_counter() - t)
                gc.collect()
                per = (rss_kib() - rss0) / n
                assert json.loads(await host.call(pids[-1], '{"op": "get"}')) == 0
                return per

        kib = trio.run(run)
    print(json.dumps({"spawn_us": statistics.median(times) * 1e6, "kib": kib}))


def run_child(side: str, path: Path, cache: Path, serialized: Path, n: int) -> dict[str, float]:
    args = ["--child", side, "--actors", str(n), "--cache", str(cache)]
    out = subprocess.run(
        [sys.executable, __file__, *args, "--serialized", str(serialized)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the report -------------------------------------------------------------------


def fmt(values: list[float], nd: int = 2) -> str:
    m = statistics.median(values)
    return f"{m:.{nd}f} ({min(values):.{nd}f}-{max(values):.{nd}f})"


def report(name: str, ours: list[float], raw: list[float], unit: str, nd: int = 2) -> None:
    ratio = statistics.median(ours) / statistics.median(raw)
    row = (name, f"{fmt(ours, nd)} {unit}", f"{fmt(raw, nd)} {unit}", f"{ratio:.2f}x")
    RESULTS.append(row)
    print(f"{row[0]:<34} {row[1]:<28} {row[2]:<28} {row[3]}", flush=True)


def measure(repeats: int, compile_repeats: int, actors: int) -> list[tuple[str, str, str, str]]:
    """Every figure; prints the table as it goes and returns its rows."""
    path = counter_wasm()
    print(
        f"guest: {path.name} ({path.stat().st_size / 2**20:.1f} MiB), {repeats} repeats "
        f"({compile_repeats} for the first compile), {actors} actors for spawn/RSS; "
        f"load average before: {loadavg()}",
        flush=True,
    )
    print(f"{'figure':<34} {'hostkit median (range)':<28} {'raw wasmtime-py':<28} ratio")
    work = Path(tempfile.mkdtemp(prefix="hostkit-bench-python-"))
    # first compile: hostkit into an empty cache, raw from bytes, interleaved
    ours, raw = [], []
    for i in range(compile_repeats):
        ours.append(trio.run(hostkit_load_s, path, work / f"cold{i}"))
        seconds, r = raw_compile_s(path)
        raw.append(seconds)
    report("first compile", ours, raw, "s")
    cache = work / "cold0"
    # cached load
    serialized = work / "counter.cwasm"
    serialized.write_bytes(bytes(r.comp.serialize()))
    ours, raw = [], []
    for _ in range(repeats):
        ours.append(trio.run(hostkit_load_s, path, cache) * 1e3)
        raw.append(raw_load_s(serialized) * 1e3)
    report("cached load", ours, raw, "ms", 1)
    # spawn + RSS
    sp_ours, sp_raw, kib_ours, kib_raw = [], [], [], []
    for _ in range(repeats):
        h = run_child("hostkit", path, cache, serialized, actors)
        w = run_child("raw", path, cache, serialized, actors)
        sp_ours.append(h["spawn_us"] / 1e3)
        sp_raw.append(w["spawn_us"] / 1e3)
        kib_ours.append(h["kib"] / 1024)
        kib_raw.append(w["kib"] / 1024)
    report("spawn (incl. init)", sp_ours, sp_raw, "ms")
    report("RSS per idle actor", kib_ours, kib_raw, "MiB")
    # call round trip and message rate
    c_ours, c_raw, m_ours, m_raw, m_raw64 = [], [], [], [], []
    for _ in range(repeats):
        call_us, cast_us = trio.run(hostkit_call_and_cast, path, cache, 1000, 5000)
        c_ours.append(call_us)
        m_ours.append(cast_us)
        c_raw.append(raw_call_us(r, 1000))
        m_raw.append(raw_cast_us(r, 2000, 1))
        m_raw64.append(raw_cast_us(r, 5120, 64))
    report("call round trip", c_ours, c_raw, "us", 1)
    report("one-way message, end to end", m_ours, m_raw, "us/msg", 1)
    report("  vs raw 64 frames per deliver", m_ours, m_raw64, "us/msg", 1)
    rate = 1e6 / statistics.median(m_ours)
    print(f"(message rate into one Python actor: {rate / 1e3:.1f}k msg/s)")
    print(f"load average after: {loadavg()}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return RESULTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compile-repeats", type=int, default=None, help="default: --repeats")
    ap.add_argument("--actors", type=int, default=40, help="actors for spawn and RSS")
    ap.add_argument("--quick", action="store_true", help="one first compile")
    ap.add_argument("--child", choices=("hostkit", "raw"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--serialized", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, counter_wasm(), args.cache, args.serialized, args.actors)
        return
    cr = args.compile_repeats or (1 if args.quick else args.repeats)
    measure(args.repeats, cr, args.actors)


if __name__ == "__main__":
    main()
