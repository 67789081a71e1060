"""Real Python guests (plugins/python/*, built with componentize-py and the
guest SDK) running in a real host.

The host runs with its default activation timeout and fuel: a
componentize-py guest is pre-initialised at build time, so instantiating it
takes milliseconds and its first call well under a million units of fuel.
Compiling one (~19 MB) takes seconds, so compiled code is kept in a cache
under plugins/build/ that outlives the test session.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import hostkit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "plugins" / "build"
COUNTER_APP = ROOT / "plugins" / "python" / "counter"
COUNTER_WASM = BUILD / "counter.wasm"
TOUR_APP = ROOT / "plugins" / "python" / "sdk_tour"


@pytest.fixture(scope="session")
def counter_wasm(python_guests: Any) -> Path:
    """The counter guest, built once per machine (digest-cached)."""
    return Path(python_guests.build_python_guest(COUNTER_APP, COUNTER_WASM))


@pytest.fixture(scope="session")
def tour_wasm(python_guests: Any, counter_wasm: Path) -> Path:
    return Path(python_guests.build_python_guest(TOUR_APP, BUILD / "sdk_tour.wasm"))


@pytest.fixture
async def counter_host(
    counter_wasm: Path,
) -> AsyncIterator[tuple[hostkit.Host, hostkit.Component]]:
    """A host with the counter loaded."""
    config = hostkit.HostConfig(scheduler_threads=2, cache_dir=BUILD / "component-cache")
    async with hostkit.open_host(config) as host:
        yield host, await host.load_async(counter_wasm)


async def ask(host: hostkit.Host, pid: hostkit.Pid, msg: Any) -> Any:
    return json.loads(await host.call(pid, json.dumps(msg)))


def tell(host: hostkit.Host, pid: hostkit.Pid, msg: Any) -> None:
    host.send(pid, json.dumps(msg))


def test_the_build_is_cached(python_guests: Any, counter_wasm: Path) -> None:
    before = counter_wasm.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert python_guests.build_python_guest(COUNTER_APP, COUNTER_WASM) == counter_wasm
    assert time.perf_counter() - t0 < 5  # a digest check, not a build
    assert counter_wasm.stat().st_mtime_ns == before


async def test_casts_change_state_that_calls_read(counter_host: Any) -> None:
    host, counter = counter_host
    pid = await host.spawn(counter)
    assert await ask(host, pid, {"op": "get"}) == 0
    tell(host, pid, {"op": "inc", "by": 2})
    tell(host, pid, {"op": "inc", "by": 40})
    tell(host, pid, {"op": "inc"})
    assert await ask(host, pid, {"op": "get"}) == 43


@pytest.mark.parametrize(
    "value",
    [
        "héllo",
        "✓ 🎉 日本語 Ελληνικά",
        {"ключ": ["ü", 1, None, 2.5, True], "": "\x00\n"},
        "ß" * 20_000,
    ],
    ids=["latin1", "mixed", "nested", "long"],
)
async def test_echo_keeps_non_ascii_payloads_intact(counter_host: Any, value: Any) -> None:
    host, counter = counter_host
    pid = await host.spawn(counter)
    # Batched with casts around it, so later frames' offsets depend on byte lengths.
    tell(host, pid, {"op": "inc", "by": 1, "pad": "🎉" * 3})
    assert await ask(host, pid, {"op": "echo", "v": value}) == value
    tell(host, pid, {"op": "inc", "by": 1, "pad": "é"})
    assert await ask(host, pid, {"op": "get"}) == 2


async def test_self_pid_from_the_process_import_matches_spawn(counter_host: Any) -> None:
    host, counter = counter_host
    first = await host.spawn(counter)
    second = await host.spawn(counter)
    assert await ask(host, second, {"op": "self"}) == int(second)
    assert await ask(host, first, {"op": "self"}) == int(first)


async def test_stop_cast_exits_normally(counter_host: Any) -> None:
    host, counter = counter_host
    pid = await host.spawn(counter)
    tell(host, pid, {"op": "stop"})
    reason = await host.wait(pid)
    assert reason.kind == "normal"
    assert not host.is_alive(pid)


async def test_init_args_set_the_initial_count(counter_host: Any) -> None:
    host, counter = counter_host
    pid = await host.spawn(counter, "41")
    tell(host, pid, {"op": "inc", "by": 1})
    assert await ask(host, pid, {"op": "get"}) == 42


async def test_bad_init_args_fail_the_spawn_with_the_guests_reason(counter_host: Any) -> None:
    host, counter = counter_host
    with pytest.raises(hostkit.SpawnError, match="init args must be an integer count"):
        await host.spawn(counter, '"many"')
    with pytest.raises(hostkit.SpawnError, match="init raised JSONDecodeError"):
        await host.spawn(counter, "{")


async def test_actors_from_one_component_have_independent_state(counter_host: Any) -> None:
    host, counter = counter_host
    a = await host.spawn(counter)
    b = await host.spawn(counter, "100")
    for _ in range(5):
        tell(host, a, {"op": "inc"})
    tell(host, b, {"op": "inc", "by": -1})
    assert await ask(host, a, {"op": "get"}) == 5
    assert await ask(host, b, {"op": "get"}) == 99


async def test_payloads_that_are_not_json_do_not_kill_the_actor(
    counter_host: Any, caplog: pytest.LogCaptureFixture
) -> None:
    host, counter = counter_host
    pid = await host.spawn(counter)
    caplog.set_level(logging.WARNING, logger="hostkit.runtime")
    host.send(pid, "not json")
    reply = json.loads(await host.call(pid, "{nope"))
    assert "is not valid JSON" in reply["error"]
    assert await ask(host, pid, {"op": "get"}) == 0
    assert any("dropped a cast from 0:" in r.getMessage() for r in caplog.records)


async def test_terminate_runs_with_the_stop_reason(
    counter_host: Any, caplog: pytest.LogCaptureFixture
) -> None:
    host, counter = counter_host
    caplog.set_level(logging.INFO, logger="hostkit.runtime")
    stopped = await host.spawn(counter, "3")
    tell(host, stopped, {"op": "stop"})
    shut = await host.spawn(counter, "4")
    host.stop(shut)
    assert (await host.wait(stopped)).kind == "normal"
    assert (await host.wait(shut)).kind == "shutdown"
    lines = [r.getMessage() for r in caplog.records]
    assert f"[{stopped} counter] terminating (normal) at 3" in lines
    assert f"[{shut} counter] terminating (shutdown) at 4" in lines


async def test_every_sync_helper_reaches_the_host(counter_host: Any, tour_wasm: Path) -> None:
    host, _counter = counter_host
    tour = await host.spawn(await host.load_async(tour_wasm))
    result = await ask(host, tour, {"op": "sync"})
    child = result.pop("child_count"), result.pop("child_echo")
    assert child == (42, "ünï ✓")
    assert result == {
        "self": int(tour),
        "now": True,
        "register_again": "actor already registered as 'tour'",
        "whereis": int(tour),
        "whereis_missing": None,
        "call_self": "deadlock",
        "call_dead": ["send", "noproc"],
        "send_dead": "noproc",
        "spawn_missing": "no component named 'missing' is loaded",
    }
    assert host.whereis("tour") == tour


async def test_outbox_results_come_back_as_infos(counter_host: Any, tour_wasm: Path) -> None:
    host, _counter = counter_host
    tour = await host.spawn(await host.load_async(tour_wasm))
    assert await ask(host, tour, {"op": "async"}) == "queued"
    infos = await ask(host, tour, {"op": "infos"})
    [spawned] = [msg for kind, msg in infos if kind == "spawned" and "pid" in msg]
    assert spawned["tag"] == 6
    assert await ask(host, hostkit.Pid(spawned["pid"]), {"op": "get"}) == 7
    assert sorted(infos, key=lambda i: i[1]["tag"]) == [
        ["undeliverable", {"pid": 2**40, "tag": 5, "error": "noproc"}],
        ["spawned", {"tag": 6, "pid": spawned["pid"]}],
        ["spawned", {"tag": 7, "error": "no component named 'missing' is loaded"}],
    ]


async def test_deferred_reply_and_crash(counter_host: Any, tour_wasm: Path) -> None:
    host, _counter = counter_host
    tour = await host.spawn(await host.load_async(tour_wasm))
    replies: list[Any] = []
    async with trio.open_nursery() as nursery:

        async def wait_for_later() -> None:
            replies.append(await ask(host, tour, {"op": "later"}))

        nursery.start_soon(wait_for_later)
        await trio.testing.wait_all_tasks_blocked()
        assert await ask(host, tour, {"op": "now"}) == "replied"
    assert replies == ["deferred ✓"]
    with pytest.raises(hostkit.ActorExited, match="handle_call raised ZeroDivisionError"):
        await ask(host, tour, {"op": "crash"})
    reason = await host.wait(tour)
    assert reason.kind == "error"
    assert reason.detail.startswith("handle_call raised ZeroDivisionError: ")
