"""Trio's convention: every async method of the host checkpoints on every
path, including the ones that raise or return at once -- otherwise a
``while True: try ... except MailboxFull: continue`` loop never lets a
cancel scope fire (issue 7 measured a 38 s freeze)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.lowlevel
from trio.testing import assert_checkpoints

import hostkit


@pytest.fixture
async def small(config: hostkit.HostConfig) -> AsyncIterator[hostkit.Host]:
    # a spinner keeps the one thread (a slice as long as the deadline: no preemption)
    cfg = dataclasses.replace(
        config,
        mailbox_capacity=1,
        scheduler_threads=1,
        slice_seconds=config.activation_timeout,
    )
    async with hostkit.open_host(cfg) as host:
        yield host


async def test_call_checkpoints_when_it_raises_at_once(
    small: hostkit.Host, wasm: dict[str, Path]
) -> None:
    host = small
    with assert_checkpoints(), pytest.raises(hostkit.NoProc):
        await host.call(hostkit.Pid(999_999), "x")
    with assert_checkpoints(), pytest.raises(hostkit.MessageTooLarge):
        await host.call(hostkit.Pid(1), "x" * (host.config.max_message_size + 1))
    spinner = await host.spawn(host.load(wasm["loop"]))
    echo = await host.spawn(host.load(wasm["echo"]))
    host.send(spinner, "spin")
    host.send(echo, "fills the one slot")
    with assert_checkpoints(), pytest.raises(hostkit.MailboxFull):
        await host.call(echo, "x")


async def test_call_checkpoints_when_it_succeeds(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    with assert_checkpoints():
        assert await host.call(pid, "x") == "x"


async def test_spawn_checkpoints_on_every_path(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    echo = host.load(wasm["echo"])
    with assert_checkpoints():
        pid = await host.spawn(echo, name="taken")
    with assert_checkpoints(), pytest.raises(hostkit.SpawnError):
        await host.spawn(echo, name="taken")
    with assert_checkpoints(), pytest.raises(hostkit.SpawnError):
        await host.spawn("never-loaded")
    with assert_checkpoints(), pytest.raises(hostkit.SpawnError):
        await host.spawn(host.load(wasm["trap"]), "trap")
    assert host.is_alive(pid)


async def test_wait_checkpoints_on_every_path(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    host.kill(pid)
    with assert_checkpoints():
        await host.wait(pid)  # already gone: returns at once
    with assert_checkpoints(), pytest.raises(hostkit.NoProc):
        await host.wait(hostkit.Pid(999_999))
    other = await host.spawn(host.load(wasm["echo"]))
    host.send(other, "stop")
    with assert_checkpoints():
        await host.wait(other)


async def test_send_wait_checkpoints_on_every_path(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    pid = await host.spawn(host.load(wasm["echo"]))
    with assert_checkpoints():
        await host.send_wait(pid, "room at once")
    with assert_checkpoints(), pytest.raises(hostkit.NoProc):
        await host.send_wait(hostkit.Pid(999_999), "x")


async def test_monitor_wait_checkpoints(host: hostkit.Host) -> None:
    mon = host.monitor(hostkit.Pid(999_999))
    await trio.lowlevel.checkpoint()  # the DOWN noproc is posted to the Trio thread
    with assert_checkpoints():
        assert (await mon.wait()).kind == "noproc"


async def test_a_mailbox_full_retry_loop_is_cancellable(
    small: hostkit.Host, wasm: dict[str, Path]
) -> None:
    host = small
    spinner = await host.spawn(host.load(wasm["loop"]))
    echo = await host.spawn(host.load(wasm["echo"]))
    host.send(spinner, "spin")
    host.send(echo, "fills the one slot")
    with trio.move_on_after(0.05) as scope:
        while True:
            try:
                await host.call(echo, "x")
            except hostkit.MailboxFull:
                continue
    assert scope.cancelled_caught


async def test_aclose_checkpoints_even_when_already_closed(
    config: hostkit.HostConfig,
) -> None:
    async with hostkit.open_host(config) as host:
        pass
    with assert_checkpoints():
        await host.aclose()


async def test_load_async_checkpoints_on_every_path(
    host: hostkit.Host, wasm: dict[str, Path], tmp_path: Path
) -> None:
    with assert_checkpoints():
        await host.load_async(wasm["echo"])
    with assert_checkpoints(), pytest.raises(hostkit.ComponentLoadError):
        await host.load_async(tmp_path / "missing.wasm")
