"""Federation throughput: one-way actor messages per second over each transport.

Run: ``python benchmarks/bench_federation.py`` (``--quick`` for a short run).

Baseline, in the same run: a raw trio-websocket client sending the same
number of same-size frames, one websocket message each, to a trio-websocket
server on loopback that counts them (no hostkit, no handshake, no framing).
Each hostkit figure is node "a" casting N messages to one actor on node "b"
(``Federation.send_wait``: awaitable, pushes back on a full send buffer),
timed until "b" has delivered the last one to its local host. Medians of
several rounds, with the range.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url, serve_websocket

from hostkit.federation import (
    ClusterSecret,
    QuicTransport,
    RemotePid,
    WebsocketTransport,
    make_dev_cert,
    open_federation,
)
from hostkit.testing import MemoryNetwork

SECRET = bytes(range(32))


class Counter:
    """A LocalNode that only counts what arrives for actor 1."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.count = 0
        self.done = trio.Event()

    def deliver(self, sender, target, payload):
        self.count += 1
        if self.count == self.want:
            self.done.set()
        return None

    def node_up(self, node):
        pass

    def node_down(self, node, reason):
        pass


class Allow:
    def allows(self, peer, action, target, context):
        return True


async def raw_websocket(n: int, payload: bytes) -> float:
    done = trio.Event()

    async def handler(request):
        ws = await request.accept()
        for _ in range(n):
            await ws.get_message()
        done.set()
        await ws.send_message(b"done")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/") as ws:
            start = time.perf_counter()
            for _ in range(n):
                await ws.send_message(payload)
            await ws.get_message()
            elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return n / elapsed


async def raw_websocket_batched(n: int, payload: bytes) -> float:
    """The same frames, length-prefixed and packed into ~64 KiB websocket
    messages, as hostkit's writer does: the transport's ceiling."""
    per = max(1, 65536 // (len(payload) + 4))
    frame = len(payload).to_bytes(4, "big") + payload
    done = trio.Event()

    async def handler(request):
        ws = await request.accept()
        got = 0
        while got < n:
            message = await ws.get_message()
            got += len(message) // len(frame)
        done.set()
        await ws.send_message(b"done")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/") as ws:
            start = time.perf_counter()
            sent = 0
            while sent < n:
                k = min(per, n - sent)
                await ws.send_message(frame * k)
                sent += k
            await ws.get_message()
            elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return n / elapsed


async def federated(transport, listen: str, n: int, payload: bytes) -> float:
    counter = Counter(n)
    async with (
        open_federation(
            "b",
            authenticator=ClusterSecret(SECRET),
            transport=transport,
            local=counter,
            policy=Allow(),
        ) as fb,
        open_federation(
            "a",
            authenticator=ClusterSecret(SECRET),
            transport=transport,
            local=Counter(0),
            policy=Allow(),
        ) as fa,
    ):
        address = await fb.listen(listen)
        fa.add_peer("b", address)
        peer = await fa.wait_up("b")
        target = RemotePid(peer.name, peer.creation, 1)
        start = time.perf_counter()
        for _ in range(n):
            await fa.send_wait(target, 1, payload)
        await counter.done.wait()
        return n / (time.perf_counter() - start)


async def call_round_trips(transport, listen: str, n: int) -> tuple[float, float]:
    """Median microseconds of ``Host.call`` to an echo actor: local, then remote."""
    import hostkit
    from hostkit.federation import open_host_federation

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
    import build as plugin_build

    echo = plugin_build.build_wat("echo")
    async with (
        hostkit.open_host(hostkit.HostConfig(node_name="a")) as a,
        hostkit.open_host(hostkit.HostConfig(node_name="b")) as b,
        open_host_federation(
            a, authenticator=ClusterSecret(SECRET), transport=transport, policy=Allow()
        ) as fa,
        open_host_federation(
            b, authenticator=ClusterSecret(SECRET), transport=transport, policy=Allow()
        ) as fb,
    ):
        fa.add_peer("b", await fb.listen(listen))
        await fa.wait_up("b")
        a.load(echo, name="echo")
        b.load(echo, name="echo")
        local, remote = await a.spawn("echo"), await b.spawn("echo")
        figures = []
        for pid in (local, remote):
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                await a.call(pid, "ping")
                samples.append(time.perf_counter() - start)
            figures.append(statistics.median(samples) * 1e6)
        return figures[0], figures[1]


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):>10,.0f} /s  (range {min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        cert = make_dev_cert("b", Path(tmp))
        transports = {
            "memory (in-process)": (MemoryNetwork, "b"),
            "websocket (ws, loopback)": (WebsocketTransport, "127.0.0.1:0"),
            "websocket (wss, TLS)": (
                lambda: WebsocketTransport.tls(
                    certificate=cert.cert, private_key=cert.key, ca_file=cert.ca_cert
                ),
                "localhost:0",
            ),
            "QUIC (TLS 1.3)": (
                lambda: QuicTransport(
                    certificate=str(cert.cert), private_key=str(cert.key), ca_file=str(cert.ca_cert)
                ),
                "127.0.0.1:0",
            ),
        }
        for size in (64, 4096):
            n = (
                (5_000 if args.quick else 20_000)
                if size == 64
                else (2_000 if args.quick else 5_000)
            )
            payload = b"x" * size
            raw = [trio.run(raw_websocket, n, payload) for _ in range(rounds)]
            base = statistics.median(raw)
            print(f"\npayload {size} B, {n} one-way messages, {rounds} rounds")
            print(f"  {'raw trio-websocket frames (baseline)':<40} {median_range(raw)}")
            packed = [trio.run(raw_websocket_batched, n, payload) for _ in range(rounds)]
            print(
                f"  {'  reference: raw frames packed in 64 KiB':<40} {median_range(packed)}  "
                f"{statistics.median(packed) / base:5.2f}x baseline"
            )
            for name, (make, listen) in transports.items():
                rates = [trio.run(federated, make(), listen, n, payload) for _ in range(rounds)]
                ratio = statistics.median(rates) / base
                verdict = "MET" if ratio >= 0.5 else "MISSED"
                print(
                    f"  {'hostkit over ' + name:<40} {median_range(rates)}  "
                    f"{ratio:5.2f}x baseline  (>= 0.5x: {verdict})"
                )
        n_calls = 300 if args.quick else 2000
        print(f"\nHost.call round trip to an echo actor, median of {n_calls} calls")
        for name, (make, listen) in transports.items():
            local_us, remote_us = trio.run(call_round_trips, make(), listen, n_calls)
            print(
                f"  {'over ' + name:<40} local {local_us:8.1f} us   remote {remote_us:8.1f} us"
                f"   ({remote_us / local_us:4.1f}x local)"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
