"""Guards on the runtime's limits (issue 14), through the public API with
real components: a host call times out, the host-call budget is per
activation, guest sends obey ``max_message_size`` on both paths, and
``load(bytes)`` obeys ``max_component_bytes``. Each test fails when its
check is removed (`scripts/mutation.py` applies those mutants).

Guest: ``guard_bigsend`` (sends messages of a size the test picks, with a
short call; takes a ``Q`` call and never replies)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pluggy
import pytest
import trio

import hostkit
from hostkit.capabilities import Gate
from hostkit.capabilities.providers import ClockProvider, FilesProvider, KvProvider

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "capabilities" / "policies" / "default.cedar"
TOO_LARGE = "2"  # process.send-error case index


async def test_a_call_to_a_guest_that_never_replies_raises_call_timeout_at_the_timeout(
    host: hostkit.Host, wasm: dict[str, Path], autojump_clock: trio.abc.Clock
) -> None:
    pid = await host.spawn(host.load(wasm["guard_bigsend"]))
    started = trio.current_time()
    with pytest.raises(hostkit.CallTimeout, match="within 30"):
        await host.call(pid, "Q", timeout=30)
    assert trio.current_time() - started == pytest.approx(30)
    assert host.is_alive(pid)  # a timeout ends the wait, not the actor


async def test_the_host_call_budget_is_renewed_for_every_activation(
    cache_dir: Path, wasm: dict[str, Path], tmp_path: Path
) -> None:
    pm = pluggy.PluginManager("hostkit")
    pm.register(ClockProvider())
    pm.register(FilesProvider({"/x": tmp_path}))
    pm.register(KvProvider(tmp_path / "kv.db"))
    cfg = hostkit.HostConfig(host_call_budget=3, cache_dir=cache_dir, activation_timeout=5)
    async with hostkit.open_host(cfg, capabilities=Gate(pm, policies=[DEFAULT])) as host:
        pid = await host.spawn(host.load(wasm["hostcall"]))
        for _ in range(3):  # the whole budget in each of three activations
            assert (await host.call(pid, "T00000003")).startswith("ok:")
        with pytest.raises(hostkit.ActorExited):
            await host.call(pid, "T00000004")
        assert (await host.wait(pid)).kind == "budget"


@pytest.fixture
async def small_host(cache_dir: Path) -> AsyncIterator[hostkit.Host]:
    cfg = hostkit.HostConfig(max_message_size=100, cache_dir=cache_dir, activation_timeout=5)
    async with hostkit.open_host(cfg) as host:
        yield host


async def test_process_send_refuses_a_message_over_max_message_size(
    small_host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    host = small_host
    sender = await host.spawn(host.load(wasm["guard_bigsend"]))
    echo = await host.spawn(host.load(wasm["echo"]))
    assert await host.call(sender, f"S{int(echo):016x}{100:08x}") == "ok"
    assert await host.call(sender, f"S{int(echo):016x}{101:08x}") == f"error:{TOO_LARGE}"
    assert await host.call(echo, "count") == "1"  # only the message within the limit


async def test_an_outbox_send_over_max_message_size_is_undeliverable(
    small_host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    host = small_host
    sender = await host.spawn(host.load(wasm["guard_bigsend"]))
    echo = await host.spawn(host.load(wasm["echo"]))
    assert await host.call(sender, f"C{int(echo):016x}{100:08x}") == "queued"
    assert await host.call(sender, f"C{int(echo):016x}{101:08x}") == "queued"
    assert await host.call(sender, "U") == "1"  # the `u` frame for the large one
    assert await host.call(echo, "count") == "1"


async def test_loading_bytes_over_max_component_bytes_is_refused_naming_the_limit(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    data = wasm["echo"].read_bytes()
    cfg = hostkit.HostConfig(max_component_bytes=len(data) - 1, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="max_component_bytes"):
            host.load(data, name="echo")
    cfg = hostkit.HostConfig(max_component_bytes=len(data), cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        assert host.load(data, name="echo").name == "echo"


async def test_a_down_reaches_a_watcher_whose_mailbox_is_full(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    cfg = hostkit.HostConfig(
        mailbox_capacity=4, scheduler_threads=2, cache_dir=cache_dir, activation_timeout=5
    )
    async with hostkit.open_host(cfg) as host:
        watcher = await host.spawn(host.load(wasm["guard_watcher"]))
        target = await host.spawn(host.load(wasm["trap"]))
        # The watcher fills its own mailbox, then the target dies while it is full.
        assert await host.call(watcher, f"W{int(target):016x}") == "4"
        assert (await host.wait(target)).kind == "trap"
        with trio.fail_after(10):
            while True:  # until the watcher has drained its fillers
                try:
                    downs = await host.call(watcher, "D")
                    break
                except hostkit.MailboxFull:
                    await trio.sleep(0.01)
        assert downs == "1"  # the DOWN was not dropped


async def test_calls_over_max_message_size_are_refused_from_the_host_and_from_a_guest(
    small_host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    host = small_host
    caller = await host.spawn(host.load(wasm["guard_bigsend"]))
    echo = await host.spawn(host.load(wasm["echo"]))
    with pytest.raises(hostkit.MessageTooLarge):
        await host.call(echo, "x" * 101)
    assert await host.call(echo, "x" * 100) == "x" * 100
    assert await host.call(caller, f"K{int(echo):016x}{100:08x}") == "x" * 100
    # call-error `send`(0) carrying send-error `too-large`
    assert await host.call(caller, f"K{int(echo):016x}{101:08x}") == f"error:0{TOO_LARGE}"
