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
  (entity sets and policy partitions still cached), next to a raw cedarpy
  decision for the same request with policies, entities and schema
  pre-parsed, the best a caller of cedarpy can do.

The audit record each gated call writes (one hash-chained JSON line) is part
of the gated figure; its cost alone, in a tight loop, is printed too. In
place, between wasm calls, everything runs slower than in a tight loop (cold
caches), so "the rest" overstates the gate's own logic (identity, resource,
Cedar lookup, limits: ~2 us in a tight loop). Medians of interleaved rounds: the
machine is shared and noisy, compare the differences, not the absolutes.
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
import pluggy
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

import build as plugin_build  # noqa: E402

import hostkit  # noqa: E402
from hostkit.audit import AuditLog  # noqa: E402
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


class NoRecordGate(Gate):
    """The gate without the allowed call's audit record. Benchmark only: a
    real gate never runs a call it did not record."""

    def _audit_allowed(self, *args: Any) -> None:
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
) -> Callable[[], Awaitable[float]]:
    message = f"K{calls:08x}key"
    assert await host.call(pid, message) == "ok:v"

    async def one() -> float:
        start = time.perf_counter()
        await host.call(pid, message)
        return (time.perf_counter() - start) / calls * 1e6

    return one


async def run(calls: int, rounds: int) -> None:
    wasm = plugin_build.build_wat("hostcall")
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=None, host_call_budget=calls + 10)
    ungated_gate, cached_gate = gate(), gate()
    norecord_gate = gate(kind=NoRecordGate)
    uncached_gate = gate(UncachedAuthorizer(policies()))
    samples: dict[str, list[float]] = {"ungated": [], "norecord": [], "cached": [], "uncached": []}
    async with (
        hostkit.open_host(cfg, resolver=ungated_gate._resolve_ungated) as plain,
        hostkit.open_host(cfg, capabilities=norecord_gate) as unrecorded,
        hostkit.open_host(cfg, capabilities=cached_gate) as gated,
        hostkit.open_host(cfg, capabilities=uncached_gate) as fresh,
    ):
        runners = {}
        hosts = (
            ("ungated", plain),
            ("norecord", unrecorded),
            ("cached", gated),
            ("uncached", fresh),
        )
        for name, host in hosts:
            pid = await host.spawn(host.load(wasm))
            runners[name] = await per_call_us(host, pid, calls, rounds)
        for _ in range(rounds):  # interleaved: noise hits all alike
            for name, one in runners.items():
                samples[name].append(await one())
    med = {name: statistics.median(values) for name, values in samples.items()}
    audit_us, prepared_us = audit_record_us(rounds)
    raw_us = raw_cedarpy_us(cached_gate, rounds)

    spread = {name: (min(values), max(values)) for name, values in samples.items()}
    print(f"\n{len(policies())} policies, {calls} kv.get calls per message, medians per call")
    print(f"({rounds} interleaved rounds; [min-max] per round):")

    def row(label: str, name: str, extra: str = "") -> None:
        low, high = spread[name]
        print(f"  {label:<40}  {med[name]:8.2f} us  [{low:.2f}-{high:.2f}]{extra}")

    row("ungated host call", "ungated")
    nodiff = med["norecord"] - med["ungated"]
    row("gated, cached, no per-call record", "norecord", f"  (+{nodiff:.2f} us, target +2)")
    diff = med["cached"] - med["ungated"]
    row("gated, cached decision", "cached", f"  (+{diff:.2f} us, target +5)")
    print(f"    the record in place (cached - no record) {diff - nodiff:8.2f} us")
    print(f"    AuditLog.record, tight loop              {audit_us:8.2f} us")
    print(f"    AuditLog.record_prepared (the gate's)    {prepared_us:8.2f} us")
    udiff = med["uncached"] - med["ungated"]
    row("gated, decision not cached", "uncached", f"  (+{udiff:.2f} us)")
    decision_us = udiff - (diff - nodiff)
    print(f"    decision + gate, without the record      {decision_us:8.2f} us")
    print(f"  raw cedarpy decision, all pre-parsed      {raw_us:8.2f} us")
    print(f"  uncached gated decision / raw cedarpy     {decision_us / raw_us:8.2f} x")


def audit_record_us(rounds: int) -> tuple[float, float]:
    """One decision record through `AuditLog.record` (fields checked) and
    through `AuditLog.record_prepared` (the body the gate builds)."""
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
        start = time.perf_counter()
        for _ in range(n):
            log.record("decision", **fields)
        return (time.perf_counter() - start) / n * 1e6

    def prepared() -> float:
        n = 5000
        start = time.perf_counter()
        for _ in range(n):
            log.record_prepared("decision", dict(fields))
        return (time.perf_counter() - start) / n * 1e6

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
        start = time.perf_counter()
        for _ in range(n):
            cedarpy.is_authorized(request, policy_set, entities, schema)
        return (time.perf_counter() - start) / n * 1e6

    return statistics.median(one() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    calls, rounds = (500, 5) if args.quick else (2000, 15)
    print(f"python {sys.version.split()[0]}, hostkit {hostkit.__version__}")
    trio.run(run, calls, rounds)


if __name__ == "__main__":
    main()
