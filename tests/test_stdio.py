"""The WASI stdout/stderr sink (issue 12.2, 8.7): bounded per actor, cut
before buffering, escaped, tagged so guest text cannot pass for the host's."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path
from typing import Any

import pytest

import hostkit
from hostkit.runtime._stdio import GuestStdio

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "plugins" / "build"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="hostkit.guest")
    return caplog


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hostkit.guest"]


def test_lines_are_tagged_escaped_and_split_across_chunks(logs: pytest.LogCaptureFixture) -> None:
    sink = GuestStdio("<0.7.0>", "mod", clock=Clock())
    sink(b"hel")
    sink(b"lo\n\x1b[2J CRITICAL hostkit.capabilities: audit log tampered\r\nbidi \xe2\x80\xae x\n")
    assert messages(logs) == [
        "[guest <0.7.0> mod stdio] | hello",
        "[guest <0.7.0> mod stdio] | \\x1b[2J CRITICAL hostkit.capabilities: audit log tampered\\r",
        "[guest <0.7.0> mod stdio] | bidi \\u202e x",
    ]
    record = logs.records[0]
    assert (record.guest_pid, record.guest_component) == ("<0.7.0>", "mod")  # type: ignore[attr-defined]


def test_a_component_name_cannot_forge_the_tag(logs: pytest.LogCaptureFixture) -> None:
    GuestStdio("<0.1.0>", "x] | \nfake", clock=Clock())(b"hi\n")
    (line,) = messages(logs)
    assert "\n" not in line and line.endswith("| hi")


def test_over_long_lines_are_cut_before_they_are_buffered(logs: pytest.LogCaptureFixture) -> None:
    sink = GuestStdio("<0.1.0>", "m", max_line=8, clock=Clock())
    for _ in range(1000):  # one endless line, in chunks
        sink(b"x" * 1000)
    assert len(sink._partial) == 8  # never more than the cap is held
    sink(b"tail\nnext\n")
    assert messages(logs)[-2:] == [
        "[guest <0.1.0> m stdio] | xxxxxxxx",
        "[guest <0.1.0> m stdio] | next",
    ]
    sink.close()
    (summary,) = [m for m in messages(logs) if "hostkit dropped" in m]
    assert summary.startswith("[guest <0.1.0> m stdio] ! hostkit dropped 0 lines")
    assert "cut 1 over-long lines" in summary
    assert sink.total_dropped_bytes == 1000 * 1000 - 8 + 4


def test_a_flood_stays_within_its_limits_and_the_drop_is_counted(
    logs: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    sink = GuestStdio(
        "<0.1.0>", "m", lines_per_second=10, burst_lines=20, burst_bytes=1e9, clock=clock
    )
    sink(b"line\n" * 200_000)  # one chunk, 200k lines
    logged = [m for m in messages(logs) if m.endswith("| line")]
    assert len(logged) == 20
    summaries = [m for m in messages(logs) if "dropped" in m]
    clock.now = 1.0  # ten more tokens
    sink(b"after\n")
    summaries = [m for m in messages(logs) if "dropped" in m]
    dropped = sum(int(m.split("dropped ")[1].split()[0]) for m in summaries)
    assert dropped == 200_000 - 20 == sink.total_dropped_lines
    assert messages(logs)[-1].endswith("| after")
    assert len(messages(logs)) == 20 + 1 + 2  # lines, the one after, two summaries (t=0, t=1)


def test_the_byte_bucket_limits_large_lines(logs: pytest.LogCaptureFixture) -> None:
    sink = GuestStdio("<0.1.0>", "m", burst_bytes=3000, bytes_per_second=1, clock=Clock())
    sink((b"y" * 999 + b"\n") * 10)
    assert sum(m.endswith("y" * 999) for m in messages(logs)) == 3
    assert sink.total_dropped_lines == 7


def test_a_dropped_sink_still_reports_its_drops(logs: pytest.LogCaptureFixture) -> None:
    sink = GuestStdio("<0.1.0>", "m", burst_lines=1, lines_per_second=1e-9, clock=Clock())
    sink(b"a\nb\nc\n")
    del sink
    summaries = [m for m in messages(logs) if "hostkit dropped" in m]
    assert sum(int(m.split("dropped ")[1].split()[0]) for m in summaries) == 2
    assert len(summaries) == 2  # one when dropping began, one when the sink went away


def test_the_sink_never_raises_into_wasmtime(logs: pytest.LogCaptureFixture) -> None:
    sink = GuestStdio("<0.1.0>", "m", clock=Clock())
    sink("not bytes")  # type: ignore[arg-type]
    sink(b"still works\n")
    assert messages(logs)[-1].endswith("| still works")


# --- a real Python guest -----------------------------------------------------


@pytest.mark.slow
async def test_a_real_guest_flooding_stdout_is_bounded(
    python_guests: Any, logs: pytest.LogCaptureFixture
) -> None:
    wasm = python_guests.build_python_guest(
        ROOT / "plugins" / "python" / "fs_stdio", BUILD / "fs_stdio.wasm"
    )
    config = hostkit.HostConfig(
        scheduler_threads=2, cache_dir=BUILD / "component-cache", activation_timeout=30
    )
    async with hostkit.open_host(config) as host:
        pid = await host.spawn(await host.load_async(wasm))
        flood = {"op": "print", "n": 5_000, "text": "\x1b[2J[<0.1.0> other] forged"}
        assert json.loads(await host.call(pid, json.dumps(flood))) == 5_000
        huge = {"op": "err", "text": "z" * 1024, "n": 8 << 10}  # one 8 MiB line
        assert json.loads(await host.call(pid, json.dumps(huge))) == 8 << 20
        # ends that line (one sink takes both streams, so it would join the next)
        assert json.loads(await host.call(pid, json.dumps({"op": "err", "text": "\n"}))) == 1
        assert json.loads(await host.call(pid, json.dumps({"op": "print", "text": "ok"}))) == 1
    gc.collect()  # the actor's store and its sink are gone: the last summary is out
    lines = messages(logs)
    forged = [m for m in lines if m.endswith("forged")]
    assert 0 < len(forged) < 5_000 // 2
    assert all(m.startswith(f"[guest {pid} fs_stdio stdio] | \\x1b[2J") for m in forged)
    assert max(len(m) for m in lines) < 4096 + 100  # the 8 MiB line was cut
    summaries = [
        m for m in lines if m.startswith(f"[guest {pid} fs_stdio stdio] ! hostkit dropped")
    ]
    dropped = sum(int(m.split("dropped ")[1].split()[0]) for m in summaries)
    shown = [m for m in lines if "] | " in m]
    assert len(shown) + dropped == 5_000 + 2  # every line the guest wrote is accounted for
    assert sum(int(m.split("cut ")[1].split()[0]) for m in summaries) == 1


def test_the_log_provider_escapes_a_guest_chosen_actor_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from hostkit.capabilities._context import CallContext
    from hostkit.capabilities.providers import LogProvider

    ctx = CallContext(plugin="p", pid=3, actor="w\nCRITICAL forged \x1b[2J")
    with caplog.at_level(logging.INFO, logger="hostkit.plugins"):
        LogProvider().log_write(ctx, "info", "hello")
    (record,) = caplog.records
    assert record.getMessage() == "p[3] w\\nCRITICAL forged \\x1b[2J: hello"
