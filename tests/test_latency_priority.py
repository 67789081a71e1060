"""Calls and system signals go ahead of bulk work (the scheduler's priority
deque). Behaviour, not timing: the one scheduler thread is parked in a host
function while work queues up, then the order in which actors run once it
is released is read from the order of their exits."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import trio
import trio.testing

import hostkit


def parked_host(config: hostkit.HostConfig, gate: threading.Event) -> Any:
    def now_ms(_inst: Any) -> int:
        gate.wait(30)
        return 0

    def never(*_args: Any) -> Any:
        raise AssertionError("not called")

    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=config.cache_dir)
    return hostkit.open_host(
        cfg,
        host_functions={
            "hostkit:host/clock@0.1.0": {"now-ms": now_ms},
            "hostkit:host/files@0.1.0": {"read": never},
            "hostkit:host/kv@0.1.0": {"get": never, "set": never},
        },
    )


async def run_order(
    config: hostkit.HostConfig, wasm: dict[str, Path], wake_callee: str
) -> list[str]:
    gate = threading.Event()
    exits: list[str] = []
    async with parked_host(config, gate) as host, trio.open_nursery() as nursery:
        echo = host.load(wasm["echo"])
        bulk = [await host.spawn(echo) for _ in range(20)]
        callee = await host.spawn(echo)
        names = {callee: "callee", **{p: f"bulk{i}" for i, p in enumerate(bulk)}}
        host.add_exit_hook(lambda pid, _reason: exits.append(names.get(pid, "?")))
        parker = await host.spawn(host.load(wasm["hostcall"]))
        nursery.start_soon(host.call, parker, "t")
        while not any(a["state"] == "running" for a in host.actors()):
            await trio.sleep(0.001)  # the only scheduler thread is now parked
        for pid in bulk:
            host.send(pid, "stop")  # bulk work queued first
        if wake_callee == "call":  # a QUEUED callee promoted by a call
            host.send(callee, "stop")
            nursery.start_soon(lambda: host.call(callee, "x"))
        else:  # an IDLE one woken by a stop request
            host.stop(callee, "shutdown")
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        for pid in [*bulk, callee]:
            await host.wait(pid)
    return exits


async def test_an_actor_woken_by_a_call_runs_before_bulk_work_queued_ahead(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    exits = await run_order(config, wasm, "call")
    assert exits[:21] == ["callee"] + [f"bulk{i}" for i in range(20)]


async def test_a_stop_request_runs_before_bulk_work_queued_ahead(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    exits = await run_order(config, wasm, "stop")
    assert exits[:21] == ["callee"] + [f"bulk{i}" for i in range(20)]
