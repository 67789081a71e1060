"""What the Cedar gate costs per host call.

Run: ``python benchmarks/bench_gate.py`` (add ``--quick`` for a short run).

Prints medians (of repeated batches) for:

- an ungated call (a no-op provider function): the floor;
- the gate with a cached decision (+ rate-limit check), on top of that call;
- a raw cedarpy decision with everything pre-parsed (PolicySet, Entities,
  Schema handles) against the whole policy set: the best a caller of cedarpy
  can do without hostkit;
- hostkit's uncached decision (decision-cache miss, entity set cached), and
  with a resource never seen before (entity set built too);

for a small policy set and for a larger one (many plugins, a few grants each,
as a host with many plugins has).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cedarpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostkit.capabilities._authorizer import Authorizer
from hostkit.capabilities._entities import Entity, PluginIdentity, entity_json
from hostkit.capabilities._limits import CallLimits, RateLimit
from hostkit.capabilities._shorthands import (
    FileRead,
    FileWrite,
    Messaging,
    NetworkOutbound,
    grant,
)

WRITE = "hostkit:host/files#write"
READ = "hostkit:host/files#read"


def medians_ns(
    fns: dict[str, Callable[[int], object]], calls: int, repeats: int
) -> dict[str, float]:
    """Median over ``repeats`` batches of the mean ns per call of each
    ``fn(i)``. Batches of the different functions are interleaved, so a noisy
    neighbour slows all of them alike and the ratios stay meaningful."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    counter = 0
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter_ns()
            for _ in range(calls):
                fn(counter)
                counter += 1
            samples[name].append((time.perf_counter_ns() - start) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def policies_for(plugins: int) -> list[object]:
    grants: list[object] = []
    for n in range(plugins):
        grants += grant(
            FileRead(f"/data/p{n}/**"),
            FileWrite(f"/out/p{n}/*", max_size=1 << 20),
            NetworkOutbound(f"api{n}.example.com"),
            Messaging(f"svc{n}-*"),
            plugin=f"plugin{n}",
        )
    return grants


def run(plugins: int, calls: int, repeats: int) -> None:
    grants = policies_for(plugins)
    authorizer = Authorizer(grants, cache_size=1 << 20)
    # the success path: a real host's limits are rarely hit
    limits = CallLimits(rate=RateLimit(1e9, 1e9))
    me = PluginIdentity("plugin0", "d" * 64, "1.0", "acme", ("tools",))
    resource = Entity.file("/out/p0/result.txt")

    # raw cedarpy, everything pre-parsed, whole policy set
    schema = authorizer.schema.handle
    policy_set = cedarpy.PolicySet.from_str("\n".join(g.to_cedar() for g in grants))
    entities = cedarpy.Entities.from_json_str(
        json.dumps([entity_json(me.entity), entity_json(resource)]), schema
    )
    principal_uid = {"type": "Plugin", "id": me.name}
    resource_uid = {"type": "File", "id": resource.id}

    def raw(i: int) -> object:
        request = {
            "principal": principal_uid,
            "action": {"type": "Action", "id": WRITE},
            "resource": resource_uid,
            "context": {"size": i, "mode": "truncate"},
        }
        return cedarpy.is_authorized(request, policy_set, entities, schema)

    assert raw(1).allowed
    assert authorizer.is_authorized(me, WRITE, resource, {"size": 1, "mode": "truncate"}).allowed

    def provider(path: str) -> None:
        return None

    def ungated(i: int) -> None:
        provider("/out/p0/result.txt")

    cached_context = {"size": 10, "mode": "truncate"}

    def gated_cached(i: int) -> None:
        authorizer.is_authorized(me, WRITE, resource, cached_context)
        provider("/out/p0/result.txt")

    def gated_cached_full(i: int) -> None:
        # what a gate does per call: build the resource, check limits, decide
        path = "/out/p0/result.txt"
        limits.check("plugin0", WRITE, 10)
        authorizer.is_authorized(me, WRITE, Entity.file(path), cached_context)
        provider(path)

    def uncached(i: int) -> object:
        return authorizer.is_authorized(me, WRITE, resource, {"size": i, "mode": "truncate"})

    def uncached_new_resource(i: int) -> object:
        return authorizer.is_authorized(me, READ, Entity.file(f"/data/p0/f{i}.bin"))

    # warm up partitions and entity sets
    for fn in (raw, uncached, gated_cached, gated_cached_full, uncached_new_resource):
        fn(-1)

    fast = medians_ns(
        {"ungated": ungated, "cached": gated_cached, "cached_full": gated_cached_full},
        calls,
        repeats,
    )
    slow = medians_ns(
        {"raw": raw, "uncached": uncached, "uncached_new": uncached_new_resource},
        max(calls // 50, 50),
        repeats,
    )
    t_ungated, t_cached, t_cached_full = fast["ungated"], fast["cached"], fast["cached_full"]
    t_raw, t_uncached, t_uncached_new = slow["raw"], slow["uncached"], slow["uncached_new"]

    print(f"\n{len(grants)} policies ({plugins} plugins x 4 grants), medians per call:")
    print(f"  ungated call                              {t_ungated / 1000:8.2f} us")
    print(
        f"  gated, cached decision                    {t_cached / 1000:8.2f} us"
        f"  (+{(t_cached - t_ungated) / 1000:.2f} us)"
    )
    print(
        f"  gated, cached + Entity.file + rate limit  {t_cached_full / 1000:8.2f} us"
        f"  (+{(t_cached_full - t_ungated) / 1000:.2f} us)"
    )
    print(f"  raw cedarpy, all pre-parsed               {t_raw / 1000:8.2f} us")
    print(
        f"  hostkit uncached decision                 {t_uncached / 1000:8.2f} us"
        f"  ({t_uncached / t_raw:.2f}x raw)"
    )
    print(
        f"  hostkit uncached, new resource            {t_uncached_new / 1000:8.2f} us"
        f"  ({t_uncached_new / t_raw:.2f}x raw)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    calls, repeats = (2000, 5) if args.quick else (10000, 21)
    print(f"python {sys.version.split()[0]}, cedarpy {_cedarpy_version()}")
    for plugins in (1, 50):
        run(plugins, calls, repeats)


def _cedarpy_version() -> str:
    from importlib.metadata import version

    return version("cedarpy")


if __name__ == "__main__":
    main()
