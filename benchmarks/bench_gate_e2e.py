"""What the capability gate costs per host call, through a real guest.

Run: ``python benchmarks/bench_gate_e2e.py`` (add ``--quick`` for a short run).

The ``hostcall`` WAT guest calls ``hostkit:host/kv#get`` N times per message
(op ``K``), so Trio hand-offs and messaging are spread over N calls. The same
guest, the same in-memory provider and the same hook binding run three ways:

- ungated: the gate's binding with the decision, limits and audit removed
  (``Gate._resolve_ungated``, a benchmark-only back door): the floor;
- gated, cached decision: what every repeated call pays;
- the same without the per-call audit record (``NoRecordGate``, a
  benchmark-only subclass whose allowed-call record is skipped): the gate's
  own logic, for the issue's two targets (+2 us without the record, +5 us
  with it);
- gated, decision not cached: an `Authorizer` that never reuses a decision
  (entity sets and policy partitions still cached) behind a gate that does
  not remember decided calls (``UncachedGate``), next to a raw cedarpy
  decision for the same request with policies, entities and schema
  pre-parsed, the best a caller of cedarpy can do.

The audit record each gated call writes (one hash-chained JSON line) is part
of the gated figure; its cost alone, in a tight loop, is printed too. In
place, between wasm calls, everything runs slower than in a tight loop (cold
caches), so "the rest" overstates the gate's own logic (identity, resource,
Cedar lookup, limits: ~1 us in a tight loop, see ``--profile``). Medians of
interleaved rounds: the machine is shared and noisy, compare the differences,
not the absolutes.

``--profile`` calls the gate's bound kv.get directly in a tight loop (no wasm)
and prints cProfile's top functions of the gated path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import cedarpy
import msgspec
import pluggy
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

import build as plugin_build  # noqa: E402

import hostkit  # noqa: E402
from hostkit.audit import AuditLog  # noqa: E402
from hostkit.audit._record import prepare_fields  # noqa: E402
from hostkit.capabilities import (  # noqa: E402
    Authorizer,
    CallContext,
    CallLimits,
    Decision,
    Entity,
    Gate,
    KeyValue,
    RateLimit,
    grant,
    hookimpl,
)
from hostkit.capabilities._entities import entity_json  # noqa: E402

GET = "hostkit:host/kv#get"


class MemoryProvider:
    """The cheapest possible provider, so the figures show the gate."""

    @hookimpl
    def kv_get(self, ctx: CallContext, key: str) -> str:
        return "v"

    @hookimpl
    def kv_set(self, ctx: CallContext, key: str, value: str) -> bool:
        return True

    @hookimpl
    def files_read(self, ctx: CallContext, path: str, encoding: str) -> str:
        return ""

    @hookimpl
    def clock_now_ms(self, ctx: CallContext) -> int:
        return 0


class UncachedAuthorizer(Authorizer):
    """Decides every request afresh (entity sets and partitions stay cached)."""

    def is_authorized(
        self,
        principal: Any,
        action: str,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
        entities: tuple[Entity, ...] = (),
    ) -> Decision:
        return self._snapshot.decide(principal, action, resource, context or {}, entities)


class UncachedGate(Gate):
    """The gate without its memory of decided stock calls (so every call
    asks the authorizer). Benchmark only."""

    def _admit(self, *args: Any) -> None:
        return None


class NoRecordGate(Gate):
    """The gate without the allowed call's audit record. Benchmark only: a
    real gate never runs a call it did not record."""

    def _audit_allowed(self, *args: Any) -> None:
        return None

    def _write_allowed(self, *args: Any) -> None:
        return None


def policies() -> list[Any]:
    # A host with 50 plugins, each with a few grants, as bench_gate.py uses.
    out: list[Any] = []
    for n in range(50):
        out += grant(KeyValue(f"p{n}/*", write=True), plugin=f"plugin{n}")
    out += grant(KeyValue("*"), plugin="hostcall")
    return out


def gate(authorizer: Authorizer | None = None, kind: type[Gate] = Gate) -> Gate:
    pm = pluggy.PluginManager("hostkit")
    pm.register(MemoryProvider())
    return kind(
        pm,
        authorizer=authorizer or Authorizer(policies()),
        # the success path: limits are checked, never hit
        limits=CallLimits(rate=RateLimit(1e9, 1e9)),
        audit=AuditLog(),
    )


async def per_call_us(
    host: hostkit.Host, pid: hostkit.Pid, calls: int, rounds: int
) -> Callable[[], Awaitable[tuple[float, float]]]:
    message = f"K{calls:08x}key"
    assert await host.call(pid, message) == "ok:v"

    async def one() -> tuple[float, float]:
        """Wall and process CPU time per call (every thread of this process:
        the Trio thread and the scheduler thread). On a loaded machine CPU
        time leaves out the slices other processes took."""
        wall, cpu = time.perf_counter(), time.process_time()
        await host.call(pid, message)
        return (
            (time.perf_counter() - wall) / calls * 1e6,
            (time.process_time() - cpu) / calls * 1e6,
        )

    return one


async def run(calls: int, rounds: int) -> None:
    wasm = plugin_build.build_wat("hostcall")
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=None, host_call_budget=calls + 10)
    ungated_gate, cached_gate = gate(), gate()
    norecord_gate = gate(kind=NoRecordGate)
    uncached_gate = gate(UncachedAuthorizer(policies()), kind=UncachedGate)
    names = ("ungated", "norecord", "cached", "uncached")
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    async with (
        hostkit.open_host(cfg, resolver=ungated_gate._resolve_ungated) as plain,
        hostkit.open_host(cfg, capabilities=norecord_gate) as unrecorded,
        hostkit.open_host(cfg, capabilities=cached_gate) as gated,
        hostkit.open_host(cfg, capabilities=uncached_gate) as fresh,
    ):
        runners = {}
        for name, host in zip(names, (plain, unrecorded, gated, fresh), strict=True):
            pid = await host.spawn(host.load(wasm))
            runners[name] = await per_call_us(host, pid, calls, rounds)
        for _ in range(rounds):  # interleaved: noise hits all alike
            for name, one in runners.items():
                w, c = await one()
                wall[name].append(w)
                cpu[name].append(c)
    audit_us, prepared_us = audit_record_us(rounds)
    raw_us = raw_cedarpy_us(cached_gate, rounds)

    print(f"\n{len(policies())} policies, {calls} kv.get calls per message, per call:")
    print(f"{rounds} interleaved rounds; median [min-max] of the rounds; 'over ungated' is")
    print("the median of the per-round differences (each round's runs are adjacent in time)")
    print(f"  {'':<34} {'wall':>22} {'process CPU':>22}")
    over: dict[str, tuple[float, float]] = {}
    for name, label in zip(
        names,
        (
            "ungated host call",
            "gated, cached, no per-call record",
            "gated, cached decision",
            "gated, decision not cached",
        ),
        strict=True,
    ):
        cells = []
        for series in (wall, cpu):
            values = series[name]
            cells.append(
                f"{statistics.median(values):7.2f} [{min(values):6.2f}-{max(values):6.2f}]"
            )
        print(f"  {label:<34} {cells[0]:>22} {cells[1]:>22}")
        w, c = (
            statistics.median(a - b for a, b in zip(series[name], series["ungated"], strict=True))
            for series in (wall, cpu)
        )
        over[name] = (w, c)
    print("  over ungated (wall / CPU):")
    for name, label, target in (
        ("norecord", "cached, no per-call record", "   (target +2)"),
        ("cached", "cached decision", "   (target +5)"),
        ("uncached", "decision not cached", ""),
    ):
        w, c = over[name]
        print(f"    {label:<28} +{w:6.2f} / +{c:6.2f} us{target}")
    print("tight loops, process CPU time:")
    print(f"  AuditLog.record (fields checked)        {audit_us:8.2f} us")
    print(f"  AuditLog.record_encoded (the gate's)    {prepared_us:8.2f} us")
    print(f"  raw cedarpy decision, all pre-parsed    {raw_us:8.2f} us")


def audit_record_us(rounds: int) -> tuple[float, float]:
    """One decision record through `AuditLog.record` (fields checked) and
    through `AuditLog.record_encoded` (the gate's fast path: fields encoded
    by the caller, here once)."""
    log = AuditLog()
    fields = {
        "actor": "<0.1>",
        "plugin": "hostcall",
        "action": GET,
        "resource": 'Key::"key"',
        "decision": "allow",
        "policies": ["plugin:hostcall/kv-read:*"],
        "duration_us": 1,
    }

    def one() -> float:
        n = 5000
        start = time.process_time()
        for _ in range(n):
            log.record("decision", **fields)
        return (time.process_time() - start) / n * 1e6

    encoded = msgspec.json.encode(prepare_fields(fields))[1:-1]

    def prepared() -> float:
        n = 5000
        start = time.process_time()
        for _ in range(n):
            log.record_encoded(b'"decision"', encoded)
        return (time.process_time() - start) / n * 1e6

    checked = [one() for _ in range(rounds)]
    fast = [prepared() for _ in range(rounds)]
    return statistics.median(checked), statistics.median(fast)


def raw_cedarpy_us(g: Gate, rounds: int) -> float:
    authorizer = g.authorizer
    schema = authorizer.schema.handle
    policy_set = cedarpy.PolicySet.from_str(authorizer.to_cedar())
    resource = Entity.key("key")
    me = {"type": "Plugin", "id": "hostcall"}
    principal = Entity.plugin("hostcall")
    entities = cedarpy.Entities.from_json_str(
        json.dumps([entity_json(principal), entity_json(resource)]), schema
    )
    request = {
        "principal": me,
        "action": {"type": "Action", "id": GET},
        "resource": {"type": "Key", "id": "key"},
        "context": {},
    }
    assert cedarpy.is_authorized(request, policy_set, entities, schema).allowed

    def one() -> float:
        n = 300
        start = time.process_time()
        for _ in range(n):
            cedarpy.is_authorized(request, policy_set, entities, schema)
        return (time.process_time() - start) / n * 1e6

    return statistics.median(one() for _ in range(rounds))


class _Guard:
    deadline = 0.0


class _Actor:
    def __init__(self, component: Any) -> None:
        self.id, self.pid, self.name, self.component = 1, "<0.1>", None, component


class _Inst:
    """What the gate reads of an instance: its owner (the actor) and guard."""

    def __init__(self, component: Any) -> None:
        self.owner, self.guard = _Actor(component), _Guard()


async def profile(rounds: int, top: int) -> None:
    """The gate's host function for kv.get called in a tight loop on this
    thread (no wasm, no hand-off): ungated, gated without the per-call
    record, gated; then cProfile's top functions of the gated path."""
    import cProfile
    import pstats

    wasm = plugin_build.build_wat("hostcall")
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=None)
    gates = {"ungated": gate(), "norecord": gate(kind=NoRecordGate), "cached": gate()}
    bound: dict[str, tuple[Callable[..., Any], _Inst]] = {}
    for name, g in gates.items():
        resolve = g._resolve_ungated if name == "ungated" else g.resolve
        found: dict[str, Callable[..., Any]] = {}

        def capture(i: str, f: str, t: Any, resolve: Any = resolve, found: Any = found) -> Any:
            fn = found[f] = resolve(i, f, t)
            return fn

        opts: dict[str, Any] = {"resolver": capture} if name == "ungated" else {"capabilities": g}
        if name != "ungated":
            g.resolve = capture  # type: ignore[method-assign]
        async with hostkit.open_host(cfg, **opts) as host:
            inst = _Inst(host.load(wasm))
            bound[name] = (found["get"], inst)
    n = 20000
    samples: dict[str, list[float]] = {name: [] for name in gates}
    for _ in range(rounds):
        for name, (fn, inst) in bound.items():
            start = time.thread_time_ns()
            for _ in range(n):
                fn(inst, "key")
            samples[name].append((time.thread_time_ns() - start) / n / 1000)
    print(f"\ntight loop, {n} kv.get calls x {rounds} interleaved rounds, thread CPU us per call:")
    for name, values in samples.items():
        print(f"  {name:<9} {statistics.median(values):6.2f} [{min(values):.2f}-{max(values):.2f}]")
    for name in ("norecord", "cached"):
        diff = statistics.median(
            a - b for a, b in zip(samples[name], samples["ungated"], strict=True)
        )
        print(f"  {name} over ungated: +{diff:.2f} us")
    fn, inst = bound["cached"]
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(100_000):
        fn(inst, "key")
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument(
        "--profile", action="store_true", help="tight-loop timings and cProfile of the gate only"
    )
    args = parser.parse_args()
    calls, rounds = (500, 5) if args.quick else (2000, 15)
    print(f"python {sys.version.split()[0]}, hostkit {hostkit.__version__}")
    if args.profile:
        trio.run(profile, rounds, 15)
        return
    trio.run(run, calls, rounds)


if __name__ == "__main__":
    main()
