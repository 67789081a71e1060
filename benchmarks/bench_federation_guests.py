"""Guest-to-guest messages across nodes: outbox casts per second.

Run: ``python benchmarks/bench_federation_guests.py`` (``--quick`` for a short run).

A ``fed_agent`` guest on node "a" streams numbered outbox casts (500 per
activation, the cap is 512 frames) to a ``fed_agent`` on node "b", which
counts them in order; timed until "b" has counted the last one. Baseline,
in the same run: the same guest streaming to a ``fed_agent`` on its own
host (slot 0, no federation on the path). Medians of several rounds, with
the range.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import trio

import hostkit
from hostkit.federation import ClusterSecret, LinkConfig, WebsocketTransport, open_host_federation
from hostkit.testing import MemoryNetwork

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402

CHUNK = 500


class Allow:
    def allows(self, peer, action, target, context):  # type: ignore[no-untyped-def]
        return True


async def stream(src_host, agent, wire: int, sink_host, sink, n: int) -> float:  # type: ignore[no-untyped-def]
    before = int((await sink_host.call(sink, "N")).split()[0])
    started = time.perf_counter()
    for _ in range(n // CHUNK):
        assert await src_host.call(agent, f"O{wire:016x}{CHUNK:016x}") == "ok"
    while True:
        got, disorder = map(int, (await sink_host.call(sink, "N")).split())
        if got - before >= n:
            break
        await trio.lowlevel.checkpoint()
    assert disorder == 0
    return n / (time.perf_counter() - started)


async def run(kind: str, n: int, rounds: int) -> list[float]:
    wasm = plugin_build.build_wat("fed_agent")
    cache = Path(tempfile.mkdtemp())
    async with AsyncExitStack() as stack:
        hosts, feds = {}, {}
        transport = MemoryNetwork() if kind != "websocket" else WebsocketTransport()
        for name in ("a", "b"):
            cfg = hostkit.HostConfig(
                node_name=name, scheduler_threads=1, cache_dir=cache, mailbox_capacity=100_000
            )
            hosts[name] = await stack.enter_async_context(hostkit.open_host(cfg))
            hosts[name].load(wasm, name="fed_agent")
            feds[name] = await stack.enter_async_context(
                open_host_federation(
                    hosts[name],
                    authenticator=ClusterSecret(bytes(32)),
                    transport=transport,
                    policy=Allow(),
                    config=LinkConfig(heartbeat_timeout=30.0),
                )
            )
        listen = "b" if kind != "websocket" else "127.0.0.1:0"
        feds["a"].add_peer("b", await feds["b"].listen(listen))
        await feds["a"].wait_up("b")
        a = hosts["a"]
        agent = await a.spawn("fed_agent")
        if kind == "local":
            sink_host, sink = a, await a.spawn("fed_agent")
            wire = sink.id
        else:
            sink_host, sink = hosts["b"], await hosts["b"].spawn("fed_agent")
            wire = feds["a"].local.guest_wire(sink)
        await stream(a, agent, wire, sink_host, sink, CHUNK)  # warm up
        return [await stream(a, agent, wire, sink_host, sink, n) for _ in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, rounds = (5_000, 3) if args.quick else (20_000, 5)
    for kind in ("local", "memory", "websocket"):
        rates = trio.run(run, kind, n, rounds)
        print(
            f"{kind:>9}: {statistics.median(rates):>10,.0f} msg/s "
            f"(range {min(rates):,.0f}-{max(rates):,.0f}; {rounds} rounds of {n})"
        )


if __name__ == "__main__":
    main()
