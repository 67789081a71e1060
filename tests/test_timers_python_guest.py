"""A real Python guest (componentize-py + the guest SDK) setting and
cancelling timers in a real host, on trio's mock clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import hostkit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "plugins" / "build"


@pytest.fixture(scope="session")
def ticker_wasm(python_guests: Any) -> Path:
    app = ROOT / "plugins" / "python" / "sched_ticker"
    return Path(python_guests.build_python_guest(app, BUILD / "sched_ticker.wasm"))


async def test_a_python_guest_sets_and_cancels_timers(
    ticker_wasm: Path, mock_clock: trio.testing.MockClock
) -> None:
    config = hostkit.HostConfig(scheduler_threads=2, cache_dir=BUILD / "component-cache")
    async with hostkit.open_host(config) as host:
        pid = await host.spawn(await host.load_async(ticker_wasm))
        host.send(pid, json.dumps({"after": 2000, "msg": {"n": 2}}))  # tag 1
        host.send(pid, json.dumps({"after": 1000, "msg": "one"}))  # tag 2
        host.send(pid, json.dumps({"after": 1500, "msg": "cancelled"}))  # tag 3
        host.send(pid, json.dumps({"cancel": True}))
        assert json.loads(await host.call(pid, '"log"')) == []
        mock_clock.jump(5)
        await trio.testing.wait_all_tasks_blocked()
        assert json.loads(await host.call(pid, '"log"')) == [
            ["timer", {"tag": 2, "msg": "one"}],
            ["timer", {"tag": 1, "msg": {"n": 2}}],
        ]
