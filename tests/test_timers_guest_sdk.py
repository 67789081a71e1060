"""The guest SDK's timers, sans-IO on plain CPython: ``send_after`` and
``cancel_timer`` become outbox ``t`` / ``k`` frames, and ``i`` frames come
back as ``handle_info("timer", ...)``."""

from __future__ import annotations

from typing import Any

import pytest

from hostkit._frames import frame as host_frame
from hostkit.guest import Frame, GenServer, Runtime, decode_frames


class QuietProcess:
    """The ``process`` imports the runtime touches here."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str]] = []

    def self_pid(self) -> int:
        return 7

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


class Ticker(GenServer):
    def init(self, args: str) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.tag = 0

    def handle_cast(self, msg: Any) -> None:
        if msg == "arm":
            self.tag = self.send_after(1500, {"tick": 1})
            self.send_after(0, "now", tag=2**64 - 1)
        elif msg == "disarm":
            self.cancel_timer(self.tag)

    def handle_info(self, kind: str, msg: Any) -> None:
        self.seen.append((kind, msg))


def started() -> tuple[Runtime, Ticker]:
    rt = Runtime(Ticker, QuietProcess())  # type: ignore[arg-type]
    assert rt.init("") is None
    assert isinstance(rt.server, Ticker)
    return rt, rt.server


def run(rt: Runtime, *frames: bytes) -> list[Frame]:
    return decode_frames(rt.deliver(b"".join(frames).decode()))


def test_send_after_and_cancel_timer_become_t_and_k_frames() -> None:
    rt, _ = started()
    assert run(rt, host_frame(b"c", 0, 0, b'"arm"')) == [
        Frame("t", 0, 1, '1500\n{"tick":1}'),
        Frame("t", 0, 2**64 - 1, '0\n"now"'),
    ]
    assert run(rt, host_frame(b"c", 0, 0, b'"disarm"')) == [Frame("k", 0, 1, "")]


def test_a_fired_timer_reaches_handle_info_with_its_tag_and_decoded_message() -> None:
    rt, server = started()
    assert run(rt, host_frame(b"i", 0, 1, b'{"tick":1}'), host_frame(b"i", 0, 0, b"raw")) == []
    assert server.seen == [("timer", {"tag": 1, "msg": {"tick": 1}}), ("info", "raw")]


@pytest.mark.parametrize("delay", [-1, 2**32, 1.5, True, "10"])
def test_send_after_refuses_a_delay_the_host_would_not_take(delay: Any) -> None:
    class Bad(GenServer):
        def handle_cast(self, msg: Any) -> None:
            self.send_after(delay, "x")

    rt = Runtime(Bad, QuietProcess())  # type: ignore[arg-type]
    assert rt.init("") is None
    out = run(rt, host_frame(b"c", 0, 0, b"1"))
    # the handler raised ValueError: the actor stops, no timer frame goes out
    assert [f.kind for f in out] == ["x"]
    assert "delay_ms" in out[0].payload


@pytest.mark.parametrize("tag", [-1, 2**64, "1"])
def test_timer_tags_must_fit_a_frame_ref(tag: Any) -> None:
    class Bad(GenServer):
        def handle_cast(self, msg: Any) -> None:
            self.send_after(10, "x", tag=tag)

    rt = Runtime(Bad, QuietProcess())  # type: ignore[arg-type]
    assert rt.init("") is None
    out = run(rt, host_frame(b"c", 0, 0, b"1"))
    assert [f.kind for f in out] == ["x"] and "timer tag" in out[0].payload


def test_timers_outside_a_delivery_are_refused() -> None:
    class Early(GenServer):
        def init(self, args: str) -> None:
            self.send_after(10, "x")

    rt = Runtime(Early, QuietProcess())  # type: ignore[arg-type]
    error = rt.init("")
    assert error is not None and "send_after() works only while handling messages" in error
