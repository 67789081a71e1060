"""What the capability gate costs per host call, through a real guest.

Run: ``python benchmarks/bench_gate_e2e.py`` (add ``--quick`` for a short run).

The ``hostcall`` WAT guest calls ``hostkit:host/kv#get`` N times per message
(op ``K``), so Trio hand-offs and messaging are spread over N calls. The same
guest, the same in-memory provider and the same hook binding run three ways:

- ungated: the gate's binding with the decision, limits and audit removed
  (``Gate._resolve_ungated``, a benchmark-only back door): the floor;
- gated, cached decision: what every repeated call pays;
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


def policies() -> list[Any]:
    # A host with 50 plugins, each with a few grants, as bench_gate.py uses.
    out: list[Any] = []
    for n in range(50):
        out += grant(KeyValue(f"p{n}/*", write=True), plugin=f"plugin{n}")
    out += grant(KeyValue("*"), plugin="hostcall")
    return out


def gate(authorizer: Authorizer | None = None) -> Gate:
    pm = pluggy.PluginManager("hostkit")
    pm.register(MemoryProvider())
    return Gate(
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
    uncached_gate = gate(UncachedAuthorizer(policies()))
    samples: dict[str, list[float]] = {"ungated": [], "cached": [], "uncached": []}
    async with (
        hostkit.open_host(cfg, resolver=ungated_gate._resolve_ungated) as plain,
        hostkit.open_host(cfg, capabilities=cached_gate) as gated,
        hostkit.open_host(cfg, capabilities=uncached_gate) as fresh,
    ):
        runners = {}
        for name, host in (("ungated", plain), ("cached", gated), ("uncached", fresh)):
            pid = await host.spawn(host.load(wasm))
            runners[name] = await per_call_us(host, pid, calls, rounds)
        for _ in range(rounds):  # interleaved: noise hits all alike
            for name, one in runners.items():
                samples[name].append(await one())
    med = {name: statistics.median(values) for name, values in samples.items()}
    audit_us = audit_record_us(rounds)
    raw_us = raw_cedarpy_us(cached_gate, rounds)

    print(f"\n{len(policies())} policies, {calls} kv.get calls per message, medians per call:")
    print(f"  ungated host call                         {med['ungated']:8.2f} us")
    diff = med["cached"] - med["ungated"]
    print(f"  gated, cached decision                    {med['cached']:8.2f} us  (+{diff:.2f} us)")
    print(f"    the audit record alone, tight loop      {audit_us:8.2f} us")
    print(f"    the rest: gate logic, in-place slowdown {diff - audit_us:8.2f} us")
    udiff = med["uncached"] - med["ungated"]
    print(
        f"  gated, decision not cached                {med['uncached']:8.2f} us  (+{udiff:.2f} us)"
    )
    decision_us = udiff - audit_us
    print(f"    decision + gate, without the audit      {decision_us:8.2f} us")
    print(f"  raw cedarpy decision, all pre-parsed      {raw_us:8.2f} us")
    print(f"  uncached gated decision / raw cedarpy     {decision_us / raw_us:8.2f} x")


def audit_record_us(rounds: int) -> float:
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

    return statistics.median(one() for _ in range(rounds))


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
