"""The guest SDK's GenServer runtime, sans-IO on plain CPython: batches in,
outboxes out, the ``process`` imports faked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hostkit._frames import frame as host_frame
from hostkit.guest import (
    NOREPLY,
    CallFailed,
    Frame,
    From,
    GenServer,
    Runtime,
    SendFailed,
    StopGuest,
    actor,
    decode_frames,
)
from hostkit.guest._component import export


class FakeProcess:
    """Records what the guest asked the host for."""

    def __init__(self, pid: int = 7) -> None:
        self.pid = pid
        self.logs: list[tuple[str, str]] = []
        self.sent: list[tuple[int, str]] = []
        self.names: dict[str, int] = {}
        self.refuse_sends: str | None = None
        self.self_calls = 0

    def self_pid(self) -> int:
        self.self_calls += 1
        return self.pid

    def spawn(self, component: str, args: str) -> int:
        return 99

    def send(self, to: int, payload: str) -> None:
        if self.refuse_sends:
            raise SendFailed(to, self.refuse_sends)
        self.sent.append((to, payload))

    def call(self, to: int, payload: str, timeout_ms: int) -> str:
        if to == self.pid:
            raise CallFailed(to, "deadlock")
        return payload  # an echoing peer

    def register(self, name: str) -> None:
        self.names[name] = self.pid

    def whereis(self, name: str) -> int | None:
        return self.names.get(name)

    def now(self) -> int:
        return 123

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def logged(self, level: str) -> str:
        return "\n".join(m for lv, m in self.logs if lv == level)


def cast(pid: int, payload: str) -> bytes:
    return host_frame(b"c", pid, 0, payload.encode())


def call(pid: int, ref: int, payload: str) -> bytes:
    return host_frame(b"q", pid, ref, payload.encode())


def run(rt: Runtime, *frames: bytes) -> list[Frame]:
    return decode_frames(rt.deliver(b"".join(frames).decode()))


class Counter(GenServer):
    def init(self, args: str) -> None:
        self.count = int(args or 0)
        self.terminated: str | None = None

    def handle_cast(self, msg: Any) -> None:
        if msg == "boom":
            raise KeyError("boom")
        if msg == "stop":
            self.stop()
        elif msg == "quit":
            raise StopGuest("quit")
        else:
            self.count += msg

    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "later":
            self.pending = from_
            return NOREPLY
        if msg == "answer":
            self.reply(self.pending, "deferred ✓")
            return "done"
        if msg == "set":
            return {1, 2}
        return self.count

    def terminate(self, reason: str) -> None:
        self.terminated = reason


def started(cls: type[GenServer] = Counter, args: str = "") -> tuple[Runtime, FakeProcess]:
    proc = FakeProcess()
    rt = Runtime(cls, proc)
    assert rt.init(args) is None
    return rt, proc


def test_state_survives_across_batches() -> None:
    rt, _ = started(args="10")
    assert run(rt, cast(1, "2"), cast(1, "3")) == []
    assert run(rt, call(0, 5, '"get"')) == [Frame("r", 0, 5, "15")]


def test_replies_are_json_and_keep_utf8() -> None:
    class Echo(GenServer):
        def handle_call(self, msg: Any, from_: From) -> Any:
            return msg

    rt, _ = started(Echo)
    out = run(rt, call(3, 1, '"héllo 🎉"'), call(4, 2, '{"k":["✓",1.5,null]}'))
    assert out == [Frame("r", 3, 1, '"héllo 🎉"'), Frame("r", 4, 2, '{"k":["✓",1.5,null]}')]


def test_noreply_then_reply_later() -> None:
    rt, _ = started()
    assert run(rt, call(3, 1, '"later"')) == []
    assert run(rt, call(4, 2, '"answer"')) == [
        Frame("r", 3, 1, '"deferred ✓"'),
        Frame("r", 4, 2, '"done"'),
    ]


def test_stop_ends_the_batch_and_keeps_earlier_outbox() -> None:
    rt, _ = started()
    out = run(rt, call(3, 1, '"get"'), cast(1, '"stop"'), cast(1, "5"), call(3, 2, '"get"'))
    assert out == [Frame("r", 3, 1, "0"), Frame("x", 0, 0, "normal")]
    rt.terminate("normal")
    assert isinstance(rt.server, Counter)
    assert rt.server.count == 0 and rt.server.terminated == "normal"


def test_stop_guest_exception_stops_with_its_reason() -> None:
    rt, _ = started()
    assert run(rt, cast(1, '"quit"')) == [Frame("x", 0, 0, "quit")]
    rt.terminate("error")  # the host passes only the kind; terminate gets ours
    assert isinstance(rt.server, Counter)
    assert rt.server.terminated == "quit"


def test_a_handler_exception_stops_with_a_clear_reason_and_logs_the_traceback() -> None:
    rt, proc = started()
    out = run(rt, cast(1, '"boom"'), cast(1, "1"))
    assert out == [Frame("x", 0, 0, "handle_cast raised KeyError: 'boom'")]
    assert "Traceback" in proc.logged("error") and "KeyError" in proc.logged("error")


def test_an_unencodable_reply_stops_the_actor_instead_of_hanging_the_caller() -> None:
    rt, _ = started()
    [stop] = run(rt, call(3, 1, '"set"'))
    assert stop.kind == "x"
    assert stop.payload.startswith("handle_call raised MessageError: cannot encode {1, 2}")


def test_a_cast_that_is_not_json_is_logged_and_skipped() -> None:
    rt, proc = started()
    assert run(rt, cast(4, "not json"), cast(4, "2"), call(0, 1, '"get"')) == [
        Frame("r", 0, 1, "2")
    ]
    assert "dropped a cast from 4" in proc.logged("warn")


def test_a_call_that_is_not_json_gets_an_error_reply() -> None:
    rt, proc = started()
    [reply] = run(rt, call(4, 9, "{oops"))
    assert reply.kind == "r" and reply.ref == 9
    error = json.loads(reply.payload)["error"]
    assert error.startswith("payload '{oops' is not valid JSON")
    assert "refused a call from 4" in proc.logged("warn")


def test_a_malformed_batch_stops_with_a_protocol_violation() -> None:
    rt, proc = started()
    [stop] = decode_frames(rt.deliver("garbage"))
    assert stop.kind == "x" and stop.payload.startswith("protocol violation:")
    assert "malformed batch" in proc.logged("error")


def test_unhandled_calls_and_casts_crash_like_otp() -> None:
    rt, _ = started(GenServer)
    [stop] = run(rt, call(1, 1, "1"))
    assert stop.payload.startswith("handle_call raised UnhandledMessage: GenServer does not")


def test_init_failures_become_the_spawn_error() -> None:
    class Picky(GenServer):
        def init(self, args: str) -> None:
            if args == "stop":
                raise StopGuest("not today")
            if args == "self-stop":
                self.stop("refused")
            int(args)

    assert Runtime(Picky, FakeProcess()).init("stop") == "not today"
    assert Runtime(Picky, FakeProcess()).init("self-stop") == "refused"
    proc = FakeProcess()
    error = Runtime(Picky, proc).init("x")
    assert error is not None and error.startswith("init raised ValueError: invalid literal")
    assert "Traceback" in proc.logged("error")
    assert Runtime(Picky, FakeProcess()).init("3") is None


def test_outbox_sends_spawns_and_their_info_results() -> None:
    seen: list[tuple[str, Any]] = []

    class Parent(GenServer):
        def handle_cast(self, msg: Any) -> None:
            self.send(5, {"hi": "ü"}, tag=3)
            self.tag = self.spawn("child", {"n": 1})
            self.spawn("child", "raw args", tag=77)

        def handle_info(self, kind: str, msg: Any) -> None:
            seen.append((kind, msg))

    rt, _ = started(Parent)
    out = run(rt, cast(0, "null"))
    assert out == [
        Frame("s", 5, 3, '{"hi":"ü"}'),
        Frame("n", 0, 1, 'child\n{"n":1}'),
        Frame("n", 0, 77, "child\nraw args"),
    ]
    inbound = [
        host_frame(b"p", 12, 1, b""),
        host_frame(b"p", 0, 77, b"no component named 'child' is loaded"),
        host_frame(b"u", 5, 3, b"mailbox-full"),
        host_frame(b"i", 0, 0, b"timer"),
        host_frame(b"z", 0, 0, b"from the future"),
    ]
    assert run(rt, *inbound) == []
    assert seen == [
        ("spawned", {"tag": 1, "pid": 12}),
        ("spawned", {"tag": 77, "error": "no component named 'child' is loaded"}),
        ("undeliverable", {"pid": 5, "tag": 3, "error": "mailbox-full"}),
        ("info", "timer"),
    ]


def test_sends_in_init_go_out_at_once_and_failures_are_logged() -> None:
    class Greeter(GenServer):
        def init(self, args: str) -> None:
            self.send(3, "hello")
            self.send(4, "again")

    proc = FakeProcess()
    assert Runtime(Greeter, proc).init("") is None
    assert proc.sent == [(3, '"hello"'), (4, '"again"')]
    proc = FakeProcess()
    proc.refuse_sends = "noproc"
    assert Runtime(Greeter, proc).init("") is None
    assert "send to 3 failed: noproc" in proc.logged("warn")


def test_outbox_only_helpers_refuse_outside_a_delivery() -> None:
    class Early(GenServer):
        def init(self, args: str) -> None:
            if args == "spawn":
                self.spawn("x")
            else:
                self.reply(From(1, 1), 1)

    assert "spawn() works only while handling messages" in (
        Runtime(Early, FakeProcess()).init("spawn") or ""
    )
    assert "reply() works only" in (Runtime(Early, FakeProcess()).init("reply") or "")


def test_sync_process_helpers() -> None:
    class Asker(GenServer):
        def handle_call(self, msg: Any, from_: From) -> Any:
            self.register("asker")
            try:
                self.call(self.self_pid(), "me")
            except CallFailed as exc:
                deadlock = exc.kind
            return {
                "self": self.self_pid(),
                "echo": self.call(9, {"x": "ß"}),
                "where": self.whereis("asker"),
                "none": self.whereis("nobody"),
                "spawned": self.spawn_now("c", 1),
                "now": self.now(),
                "deadlock": deadlock,
            }

    rt, proc = started(Asker)
    [reply] = run(rt, call(1, 1, "0"))
    assert reply.payload == (
        '{"self":7,"echo":{"x":"ß"},"where":7,"none":null,"spawned":99,"now":123,'
        '"deadlock":"deadlock"}'
    )
    assert proc.self_calls == 1  # the pid is asked for once


def test_log_levels() -> None:
    class Chatty(GenServer):
        def handle_cast(self, msg: Any) -> None:
            self.log("warning", "w")
            self.log(msg, "x")

    rt, proc = started(Chatty)
    [stop] = run(rt, cast(0, '"loud"'))
    assert ("warn", "w") in proc.logs
    assert stop.payload.startswith("handle_cast raised ValueError: log level must be one of")


def test_function_style_actor() -> None:
    @actor
    def double(msg: Any) -> Any:
        return msg * 2

    assert issubclass(double, GenServer) and double.__name__ == "double"
    rt, _ = started(double)
    assert run(rt, cast(0, "1"), call(0, 4, '"ab"')) == [Frame("r", 0, 4, '"abab"')]


def test_helpers_outside_an_actor_say_so() -> None:
    with pytest.raises(RuntimeError, match="not running in an actor"):
        Counter().self_pid()


def test_export_needs_the_generated_bindings() -> None:
    # Outside componentize-py there is no wit_world: a clear ImportError.
    with pytest.raises(ImportError):
        export(Counter)


def test_down_and_trapped_exit_frames_reach_handle_info() -> None:
    seen: list[tuple[str, Any]] = []

    class Watcher(GenServer):
        def handle_info(self, kind: str, msg: Any) -> None:
            seen.append((kind, msg))

    rt, _ = started(Watcher)
    inbound = [
        host_frame(b"d", 9, 41, b"trap: wasm trap: unreachable"),
        host_frame(b"e", 7, 0, b"killed"),
    ]
    assert run(rt, *inbound) == []
    assert seen == [
        ("down", {"pid": 9, "ref": 41, "reason": "trap: wasm trap: unreachable"}),
        ("exit", {"pid": 7, "reason": "killed"}),
    ]
