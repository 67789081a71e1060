"""The Trio supervision driver: timing in virtual time, then real guests.

Trio-task children run on the autojump clock, so the intensity window, backoff
delays and shutdown timeouts are asserted to the exact virtual second. Wasm
actors run on real threads, so their tests use the real clock and bounds.
"""

from __future__ import annotations

import json
import logging
import math
import types
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

import hostkit
import hostkit.supervision as sup
from hostkit import ExitReason, RestartIntensityExceeded, SpawnError, SupervisorSpecError
from hostkit.supervision import (
    BRUTAL_KILL,
    INFINITY,
    ActorStart,
    Backoff,
    ChildError,
    ChildSpec,
    ChildStatus,
    Strategy,
    Supervisor,
    SupervisorFlags,
    SupervisorStart,
    TaskStart,
    open_dynamic_supervisor,
    open_supervisor,
    run_supervisor,
)

# ------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Return:
    """A run that ends normally after ``after`` seconds."""

    after: float


class Script:
    """Task children that follow a script and log what happens, with the time.

    ``runs[id]`` lists what successive incarnations of child ``id`` do: a
    number crashes it after that many seconds, :class:`Return` ends it
    normally, and once the list is used up the child runs until cancelled.
    ``cleanup[id]`` is how long its (shielded) cleanup takes when cancelled.
    """

    def __init__(
        self,
        runs: dict[str, list[float | Return]] | None = None,
        cleanup: dict[str, float] | None = None,
    ) -> None:
        self.runs = runs or {}
        self.cleanup = cleanup or {}
        self.events: list[tuple[float, str, str]] = []

    def spec(self, id: str, **options: object) -> ChildSpec:
        return ChildSpec(id, TaskStart(self.child, id), **options)  # type: ignore[arg-type]

    def log(self, what: str, id: str) -> None:
        self.events.append((trio.current_time(), what, id))

    def after(self, t: float) -> list[tuple[str, str]]:
        return [(what, id) for at, what, id in self.events if at >= t]

    async def child(self, id: str) -> None:
        self.log("start", id)
        plan = self.runs.get(id, [])
        run = plan.pop(0) if plan else math.inf
        try:
            await trio.sleep(run.after if isinstance(run, Return) else run)
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await trio.sleep(self.cleanup.get(id, 0))
            self.log("stop", id)
            raise
        if isinstance(run, Return):
            self.log("return", id)
            return
        self.log("crash", id)
        raise RuntimeError(f"{id} crashed")


class TimedLog(logging.Handler):
    """Log records with the Trio time they were emitted at."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[float, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((trio.current_time(), record.levelname, record.getMessage()))


@pytest.fixture
def sup_log() -> Iterator[TimedLog]:
    handler = TimedLog()
    logger = logging.getLogger("hostkit.supervision")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def statuses(s: Supervisor) -> dict[str, ChildStatus]:
    return {c.id: c.status for c in s.which_children()}


async def until(predicate: Callable[[], bool]) -> None:
    """Poll on the real clock (guest tests only)."""
    with trio.fail_after(5):
        while not predicate():
            await trio.sleep(0.005)


# ------------------------------------------------- strategies (virtual time)

STRATEGY_EVENTS = {
    Strategy.ONE_FOR_ONE: [("crash", "b"), ("start", "b")],
    Strategy.ONE_FOR_ALL: [
        ("crash", "b"),
        ("stop", "d"),
        ("stop", "c"),
        ("stop", "a"),
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("start", "d"),
    ],
    Strategy.REST_FOR_ONE: [
        ("crash", "b"),
        ("stop", "d"),
        ("stop", "c"),
        ("start", "b"),
        ("start", "c"),
        ("start", "d"),
    ],
}


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_each_strategy_restarts_its_group_in_order(
    autojump_clock: trio.testing.MockClock, strategy: Strategy
) -> None:
    script = Script(runs={"b": [1.0]})
    children = [script.spec(id) for id in "abcd"]
    async with open_supervisor(None, SupervisorFlags(strategy), children) as s:
        assert script.after(0) == [("start", id) for id in "abcd"]
        await trio.sleep(5)
        assert script.after(1) == STRATEGY_EVENTS[strategy]
        assert {t for t, *_ in script.events} == {0.0, 1.0}  # restarts take no time
        assert all(status is ChildStatus.RUNNING for status in statuses(s).values())
        last = {c.id: c.last_exit for c in s.which_children()}
        assert last["b"] == ExitReason("error", "RuntimeError: b crashed")
        if strategy is Strategy.ONE_FOR_ALL:  # a cancelled bystander ended with shutdown
            assert last["a"] == ExitReason("shutdown")
        await s.stop()
    assert script.after(5) == [("stop", id) for id in "dcba"]  # reverse start order
    assert s.exit_reason == ExitReason("shutdown")


async def test_a_temporary_bystander_is_stopped_but_not_restarted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"b": [1.0]})
    children = [script.spec("a"), script.spec("t", restart="temporary"), script.spec("b")]
    async with open_supervisor(None, SupervisorFlags("one_for_all"), children) as s:
        await trio.sleep(2)
        assert script.after(1) == [
            ("crash", "b"),
            ("stop", "t"),
            ("stop", "a"),
            ("start", "a"),
            ("start", "b"),
        ]
        assert [c.id for c in s.which_children()] == ["a", "b"]


# ------------------------------------------- intensity and period (exact time)


async def test_intensity_plus_one_restarts_inside_the_period_escalate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"w": [1.0, 1.0, 1.0]})
    flags = SupervisorFlags(intensity=2, period=10)
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_supervisor(None, flags, [script.spec("w")], name="root"):
            await trio.sleep_forever()  # cancelled when the supervisor gives up
    assert trio.current_time() == 3.0  # the third crash, two restarts after the first
    assert str(info.value) == (
        "supervisor 'root' gave up: restart intensity exceeded: 3 restarts in 10 s; "
        "the last failure: child 'w' exited with error: RuntimeError: w crashed"
    )
    assert script.after(0) == [("start", "w"), ("crash", "w")] * 3


async def test_the_same_restarts_spread_wider_than_the_period_do_not(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"w": [6.0, 6.0, 6.0]})
    flags = SupervisorFlags(intensity=2, period=10)
    async with open_supervisor(None, flags, [script.spec("w")]) as s:
        await trio.sleep(20)
        (w,) = s.which_children()
        assert (w.status, w.restarts) == (ChildStatus.RUNNING, 3)
        assert s.tree().recent_restarts == 2  # t=12 and t=18 are within 10 s of t=20
    assert [t for t, what, _ in script.events if what == "start"] == [0, 6, 12, 18]


@pytest.mark.parametrize(("second_run", "escalates"), [(5.0, True), (5.5, False)])
async def test_the_window_includes_its_edge(
    autojump_clock: trio.testing.MockClock, second_run: float, escalates: bool
) -> None:
    # crashes at t=1 and t=1+second_run; intensity 1 allows one restart per 5 s
    script = Script(runs={"w": [1.0, second_run]})
    flags = SupervisorFlags(intensity=1, period=5)
    try:
        async with open_supervisor(None, flags, [script.spec("w")]):
            await trio.sleep(20)
    except RestartIntensityExceeded:
        assert escalates
        assert trio.current_time() == 6.0
    else:
        assert not escalates


async def test_restarts_of_different_children_add_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"a": [1.0], "b": [2.0]})
    flags = SupervisorFlags(intensity=1, period=5)
    with pytest.raises(RestartIntensityExceeded, match="child 'b'"):
        async with open_supervisor(None, flags, [script.spec("a"), script.spec("b")]):
            await trio.sleep_forever()
    assert trio.current_time() == 2.0


# ------------------------------------------------------------- backoff timers


async def test_backoff_delays_restarts_exactly(autojump_clock: trio.testing.MockClock) -> None:
    backoff = Backoff(initial=1.0, factor=2.0, max=4.0, jitter=0.0)
    flags = SupervisorFlags(intensity=10, period=100, backoff=backoff)
    script = Script(runs={"w": [0.0, 0.0, 0.0, 0.0]})  # crashes at once, four times
    async with open_supervisor(None, flags, [script.spec("w")]) as s:
        await trio.sleep(0.5)
        assert statuses(s) == {"w": ChildStatus.RESTARTING}  # waiting out its delay
        await trio.sleep(20)
        assert statuses(s) == {"w": ChildStatus.RUNNING}
    starts = [t for t, what, _ in script.events if what == "start"]
    assert starts == [0, 1, 3, 7, 11]  # delays 1, 2, 4, 4 (capped)


async def test_a_backoff_wait_is_cancelled_when_the_supervisor_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flags = SupervisorFlags(backoff=Backoff(initial=60.0, max=60.0, jitter=0.0))
    script = Script(runs={"w": [1.0]})
    async with open_supervisor(None, flags, [script.spec("w")]) as s:
        await trio.sleep(2)
    assert trio.current_time() == 2.0  # not 61: the pending restart is dropped
    assert s.exit_reason == ExitReason("shutdown")


# ---------------------------------------------------- shutdown of task children


async def test_a_task_child_gets_its_cleanup_within_shutdown(
    autojump_clock: trio.testing.MockClock, sup_log: TimedLog
) -> None:
    script = Script(cleanup={"w": 0.5})
    async with open_supervisor(None, SupervisorFlags(), [script.spec("w", shutdown=1.0)]):
        await trio.sleep(10)
    assert script.events[-1] == (10.5, "stop", "w")
    assert trio.current_time() == 10.5
    assert not [r for r in sup_log.records if r[1] == "WARNING"]


async def test_a_task_shielding_past_its_shutdown_is_warned_about_and_waited_for(
    autojump_clock: trio.testing.MockClock, sup_log: TimedLog
) -> None:
    # Trio cannot kill a task: after `shutdown` the supervisor warns and waits.
    script = Script(cleanup={"w": 3.0})
    async with open_supervisor(None, SupervisorFlags(), [script.spec("w", shutdown=1.0)]) as s:
        await trio.sleep(10)
        t0 = trio.current_time()
        await s.stop()
    assert trio.current_time() == t0 + 3.0
    warnings = [(t, msg) for t, level, msg in sup_log.records if level == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0][0] == t0 + 1.0
    assert "cannot be killed" in warnings[0][1]


@pytest.mark.parametrize(("shutdown", "took"), [(BRUTAL_KILL, 3.0), (INFINITY, 3.0), (0.0, 3.0)])
async def test_task_shutdown_modes_all_cancel_and_wait(
    autojump_clock: trio.testing.MockClock, shutdown: object, took: float
) -> None:
    script = Script(cleanup={"w": 3.0})
    spec = script.spec("w", shutdown=shutdown)
    async with open_supervisor(None, SupervisorFlags(), [spec]):
        pass
    assert trio.current_time() == took
    assert script.events[-1] == (took, "stop", "w")


# ------------------------------------------------------ how task children end


async def test_returning_is_normal_and_raising_is_an_error_naming_the_exception(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"ok": [Return(1.0)], "bad": [1.0]})
    children = [script.spec("ok", restart="transient"), script.spec("bad", restart="transient")]
    async with open_supervisor(None, SupervisorFlags(), children) as s:
        await trio.sleep(2)
        ok, bad = s.which_children()
    assert (ok.status, ok.restarts, ok.last_exit) == (
        ChildStatus.TERMINATED,
        0,
        ExitReason("normal"),
    )
    assert (bad.status, bad.restarts) == (ChildStatus.RUNNING, 1)
    assert bad.last_exit == ExitReason("error", "RuntimeError: bad crashed")
    assert ok.kind == bad.kind == "task" and ok.pid is None


async def test_wait_started_children_start_one_after_another(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[tuple[float, str]] = []

    async def service(id: str, *, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep(2)  # e.g. binding a socket
        started.append((trio.current_time(), id))
        task_status.started()
        await trio.sleep_forever()

    children = [ChildSpec(id, TaskStart(service, id, wait_started=True)) for id in "ab"]
    async with open_supervisor(None, SupervisorFlags(), children):
        assert trio.current_time() == 4.0
    assert started == [(2.0, "a"), (4.0, "b")]


async def test_a_child_failing_to_start_fails_the_supervisor_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script()

    async def broken(*, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep(1)
        raise OSError("address in use")

    children = [script.spec("a"), ChildSpec("b", TaskStart(broken, wait_started=True))]
    with pytest.raises(SpawnError) as info:
        async with open_supervisor(None, SupervisorFlags(), children, name="web"):
            pytest.fail("the body must not run")
    assert str(info.value) == (
        "supervisor 'web' failed to start: failed to start child 'b': "
        "error: OSError: address in use"
    )
    assert script.events == [(0, "start", "a"), (1, "stop", "a")]


async def test_auto_shutdown_ends_the_supervisor_without_cancelling_the_body(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"job": [Return(3.0)]})
    flags = SupervisorFlags(auto_shutdown="any_significant")
    children = [script.spec("svc"), script.spec("job", restart="transient", significant=True)]
    async with open_supervisor(None, flags, children) as s:
        assert await s.wait() == ExitReason("shutdown")
        assert trio.current_time() == 3.0
        assert script.after(3) == [("return", "job"), ("stop", "svc")]


# ------------------------------------------------------------ nested supervisors


async def test_a_nested_supervisor_that_gives_up_escalates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"w": [1.0, 1.0, 1.0, 1.0]})
    flags = SupervisorFlags(intensity=1, period=10)
    inner = ChildSpec("inner", SupervisorStart(flags, [script.spec("w")]), kind="supervisor")
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_supervisor(None, flags, [inner], name="root") as s:
            await trio.sleep(1.5)
            tree = s.tree()
            (node,) = tree.children
            assert node.kind == "supervisor" and node.supervisor is not None
            assert node.supervisor.name == "root/inner"
            assert node.supervisor.children[0].restarts == 1
            await trio.sleep_forever()
    # inner gives up at t=2 (2 restarts in 10 s), root restarts it; it gives up
    # again at t=4, and that is root's second restart within 10 s.
    assert trio.current_time() == 4.0
    assert "supervisor 'root' gave up: restart intensity exceeded: 2 restarts" in str(info.value)
    assert "child 'inner' exited with shutdown: restart intensity exceeded" in str(info.value)


async def test_nested_supervisors_stop_their_subtree_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(cleanup={"x": 1.0, "y": 1.0})
    inner = SupervisorStart(SupervisorFlags(), [script.spec("x"), script.spec("y")])
    children = [script.spec("a"), ChildSpec("inner", inner, kind="supervisor"), script.spec("b")]
    async with open_supervisor(None, SupervisorFlags(), children):
        pass
    assert [(what, id) for _, what, id in script.events] == [
        *[("start", id) for id in "axyb"],
        *[("stop", id) for id in "byxa"],
    ]
    assert trio.current_time() == 2.0  # y's and x's cleanups, one after the other


# ------------------------------------------------------------- dynamic supervisor


async def test_dynamic_supervisor_starts_and_terminates_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(cleanup={"s1": 1.0, "s2": 1.0, "s3": 1.0})
    async with open_dynamic_supervisor(None, SupervisorFlags(), name="sessions") as s:
        assert s.which_children() == ()
        for id in ("s1", "s2", "s3"):
            assert await s.start_child(script.spec(id, restart="temporary")) is None
        with pytest.raises(ChildError, match="child 's1': already_started") as info:
            await s.start_child(script.spec("s1"))
        assert info.value.reason == "already_started"
        await s.terminate_child("s2")
        assert trio.current_time() == 1.0
        assert [c.id for c in s.which_children()] == ["s1", "s3"]
        # A dynamic supervisor forgets an ended child's id (see test_otp_supervisor).
        with pytest.raises(ChildError, match="child 's2': not_found"):
            await s.terminate_child("s2")

        async def broken(*, task_status: trio.TaskStatus[None]) -> None:
            raise ValueError("nope")

        with pytest.raises(SpawnError, match="child 'b' failed to start: error: ValueError"):
            await s.start_child(ChildSpec("b", TaskStart(broken, wait_started=True)))
        assert [c.id for c in s.which_children()] == ["s1", "s3"]
    assert trio.current_time() == 2.0  # the two left stop at once, not one by one
    with pytest.raises(hostkit.NoProc, match="not running"):
        await s.start_child(script.spec("late"))


async def test_run_supervisor_in_a_nursery(autojump_clock: trio.testing.MockClock) -> None:
    script = Script(runs={"w": [1.0, 1.0]})
    flags = SupervisorFlags(intensity=1, period=5)
    with pytest.RaisesGroup(RestartIntensityExceeded):
        async with trio.open_nursery() as nursery:
            s = await nursery.start(run_supervisor, None, flags, [script.spec("w")])
            assert isinstance(s, Supervisor)
            assert statuses(s) == {"w": ChildStatus.RUNNING}
    assert trio.current_time() == 2.0

    async with trio.open_nursery() as nursery:
        s = await nursery.start(run_supervisor, None, SupervisorFlags(), [Script().spec("w")])
        await s.stop()
    assert s.exit_reason == ExitReason("shutdown")

    async def broken(*, task_status: trio.TaskStatus[None]) -> None:
        raise OSError("no")

    async with trio.open_nursery() as nursery:
        with pytest.raises(SpawnError, match="failed to start child 'b'"):
            await nursery.start(
                run_supervisor, None, flags, [ChildSpec("b", TaskStart(broken, wait_started=True))]
            )


async def test_a_nested_dynamic_supervisor_takes_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(runs={"s1": [1.0]})
    sessions = SupervisorStart(SupervisorFlags(), dynamic=True)
    children = [ChildSpec("sessions", sessions, kind="supervisor")]
    async with open_supervisor(None, SupervisorFlags(), children, name="web") as s:
        inner = s.child_supervisor("sessions")
        assert inner.name == "web/sessions"
        await inner.start_child(script.spec("s1", restart="transient"))
        await trio.sleep(2)
        tree = s.tree()
    assert tree.children[0].supervisor is not None
    (s1,) = tree.children[0].supervisor.children
    assert (s1.id, s1.restarts, s1.status) == ("s1", 1, ChildStatus.RUNNING)
    assert script.events[-1] == (2.0, "stop", "s1")
    assert inner.exit_reason == ExitReason("shutdown")


async def test_an_error_in_the_body_stops_the_children_in_order_and_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(cleanup={"a": 1.0, "b": 1.0})
    with pytest.raises(KeyError):
        async with open_supervisor(None, SupervisorFlags(), [script.spec("a"), script.spec("b")]):
            raise KeyError("boom")
    assert script.after(0)[-2:] == [("stop", "b"), ("stop", "a")]
    assert trio.current_time() == 2.0


async def test_cancelling_from_outside_is_a_brutal_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script()
    with trio.move_on_after(5):
        async with open_supervisor(None, SupervisorFlags(), [script.spec("a")]) as s:
            await trio.sleep_forever()
    assert script.events[-1] == (5.0, "stop", "a")
    assert s.exit_reason == ExitReason("killed")


# ---------------------------------------------------------------- bad input


def test_bad_starts_are_rejected_naming_the_child() -> None:
    async def noop() -> None: ...

    flags = SupervisorFlags()
    cases: list[tuple[ChildSpec, str]] = [
        (ChildSpec("x", object()), "child 'x': start: expected ActorStart"),
        (ChildSpec("x", ActorStart("echo")), "child 'x': start: an ActorStart needs a host"),
        (ChildSpec("x", SupervisorStart(flags)), "child 'x': kind: a SupervisorStart child"),
        (ChildSpec("x", TaskStart(noop), kind="supervisor"), "child 'x': kind:"),
    ]
    for spec, message in cases:
        with pytest.raises(SupervisorSpecError, match=message):
            open_supervisor(None, flags, [spec])
    nested = SupervisorStart(flags, [ChildSpec("deep", ActorStart("echo"))])
    with pytest.raises(SupervisorSpecError, match="child 'deep': start: an ActorStart needs"):
        open_supervisor(None, flags, [ChildSpec("n", nested, kind="supervisor")])
    with pytest.raises(SupervisorSpecError, match=r"start\.trap_exit"):
        ActorStart("echo", trap_exit="yes")  # type: ignore[arg-type]
    with pytest.raises(SupervisorSpecError, match="a dynamic supervisor starts empty"):
        SupervisorStart(flags, [ChildSpec("x", TaskStart(noop))], dynamic=True)
    with pytest.raises(SupervisorSpecError, match="strategy"):
        open_dynamic_supervisor(None, SupervisorFlags("one_for_all"))


async def test_an_unloaded_component_name_is_rejected(host: hostkit.Host) -> None:
    with pytest.raises(SupervisorSpecError, match="no component named 'nope' is loaded"):
        open_supervisor(host, SupervisorFlags(), [ChildSpec("x", ActorStart("nope"))])


def test_every_public_driver_name_is_exported_once() -> None:
    from hostkit.supervision import _admin, _driver, _entry, _starts, _stopping, _tree

    assert len(sup.__all__) == len(set(sup.__all__))
    internal = (
        "check_children",
        "check_start",
        "kind_of",
        "next_name",
        "ChildAdmin",
        "PendingReply",
        "ChildStopper",
        "Incarnation",
    )
    for module in (_admin, _driver, _entry, _starts, _stopping, _tree):
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and not isinstance(v, types.ModuleType)
            and getattr(v, "__module__", None) == module.__name__
            and (isinstance(v, type) or callable(v))
            and n not in internal
        }
        assert public <= set(sup.__all__), public - set(sup.__all__)


# ------------------------------------------------- real guests (real clock)


@pytest.fixture
async def patient_host(cache_dir: Path) -> AsyncIterator[hostkit.Host]:
    """Only the supervisor's kill ends a spinning guest here (no deadline, no fuel)."""
    config = hostkit.HostConfig(
        scheduler_threads=2,
        activation_timeout=30,
        fuel_per_activation=None,
        cache_dir=cache_dir,
    )
    async with hostkit.open_host(config) as h:
        yield h


def _pid(s: Supervisor, id: str) -> hostkit.Pid | None:
    return next(c.pid for c in s.which_children() if c.id == id)


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all"])
async def test_a_crashing_guest_comes_back_fresh_under_its_name(
    host: hostkit.Host, wasm: dict[str, Path], strategy: str
) -> None:
    echo, trap = host.load(wasm["echo"]), host.load(wasm["trap"])
    children = [
        ChildSpec("counter", ActorStart(echo, name="counter")),
        ChildSpec("crasher", ActorStart(trap, name="crasher")),
    ]
    async with open_supervisor(host, SupervisorFlags(strategy), children) as s:
        counter, crasher = _pid(s, "counter"), _pid(s, "crasher")
        assert counter is not None and crasher is not None
        assert host.whereis("counter") == counter and host.whereis("crasher") == crasher
        for _ in range(3):
            host.send(counter, "tick")
        assert await host.call(counter, "count") == "3"

        host.send(crasher, "trap")
        await until(lambda: _pid(s, "crasher") not in (None, crasher))
        await until(lambda: _pid(s, "counter") is not None)
        new_crasher = _pid(s, "crasher")
        assert host.whereis("crasher") == new_crasher
        assert not host.is_alive(crasher)
        (crash,) = [c for c in s.which_children() if c.id == "crasher"]
        assert crash.restarts == 1 and crash.last_exit is not None
        assert crash.last_exit.kind == "trap"

        new_counter = _pid(s, "counter")
        assert new_counter is not None and host.whereis("counter") == new_counter
        if strategy == "one_for_all":  # a bystander restart: a fresh Store
            assert new_counter != counter
            assert await host.call(new_counter, "count") == "0"
        else:
            assert new_counter == counter
            assert await host.call(counter, "count") == "3"
    assert host.whereis("counter") is None and host.whereis("crasher") is None


async def test_a_spinning_guest_that_traps_exits_is_killed_after_its_shutdown(
    patient_host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    host = patient_host
    loop = host.load(wasm["loop"])
    spec = ChildSpec("spin", ActorStart(loop, trap_exit=True), shutdown=1.0)
    async with open_supervisor(host, SupervisorFlags(), [spec]) as s:
        pid = _pid(s, "spin")
        assert pid is not None
        host.send(pid, "spin")
        await trio.sleep(0.05)
        t0 = trio.current_time()
        await s.stop()
        elapsed = trio.current_time() - t0
    assert await host.wait(pid) == ExitReason("killed")
    assert 1.0 <= elapsed < 1.0 + host.config.tick_seconds + 0.25


@pytest.mark.parametrize(
    ("start", "shutdown", "reason"),
    [
        ({}, 5.0, "shutdown"),  # a non-trapping actor dies of the shutdown signal
        ({"trap_exit": True}, BRUTAL_KILL, "killed"),
    ],
)
async def test_a_spinning_guest_stops_within_a_tick(
    patient_host: hostkit.Host,
    wasm: dict[str, Path],
    start: dict[str, bool],
    shutdown: object,
    reason: str,
) -> None:
    host = patient_host
    spec = ChildSpec("spin", ActorStart(host.load(wasm["loop"]), **start), shutdown=shutdown)  # type: ignore[arg-type]
    async with open_supervisor(host, SupervisorFlags(), [spec]) as s:
        pid = _pid(s, "spin")
        assert pid is not None
        host.send(pid, "spin")
        await trio.sleep(0.05)
        t0 = trio.current_time()
        await s.stop()
        elapsed = trio.current_time() - t0
    assert await host.wait(pid) == ExitReason(reason)
    assert elapsed < host.config.tick_seconds + 0.25


async def test_a_guest_failing_init_fails_the_start_and_stops_the_others(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    echo, trap = host.load(wasm["echo"]), host.load(wasm["trap"])
    children = [
        ChildSpec("ok", ActorStart(echo, name="ok")),
        ChildSpec("bad", ActorStart(trap, init="trap")),
    ]
    with pytest.raises(SpawnError, match="failed to start child 'bad': error: spawn of 'trap'"):
        async with open_supervisor(host, SupervisorFlags(), children):
            pytest.fail("the body must not run")
    assert host.whereis("ok") is None
    assert host.actors() == []


async def test_dynamic_supervisor_of_actors(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    echo, trap = host.load(wasm["echo"]), host.load(wasm["trap"])
    async with open_dynamic_supervisor(host, SupervisorFlags()) as s:
        pid = await s.start_child(ChildSpec("e1", ActorStart(echo, name="e1"), "temporary"))
        assert isinstance(pid, hostkit.Pid) and host.whereis("e1") == pid
        with pytest.raises(SpawnError, match="child 'bad' failed to start"):
            await s.start_child(ChildSpec("bad", ActorStart(trap, init="no thanks")))
        await s.terminate_child("e1")
        assert await host.wait(pid) == ExitReason("shutdown")
        assert s.which_children() == ()
        other = await s.start_child(ChildSpec("e2", ActorStart(echo)))
        assert isinstance(other, hostkit.Pid)
    assert not host.is_alive(other)


async def test_cancelling_from_outside_kills_the_actors(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    echo = host.load(wasm["echo"])
    with trio.CancelScope() as scope:
        async with open_supervisor(host, SupervisorFlags(), [ChildSpec("e", ActorStart(echo))]):
            pid = host.actors()[0]["pid"]
            scope.cancel()
            await trio.sleep_forever()
    assert await host.wait(pid) == ExitReason("killed")


async def test_the_tree_as_data(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    echo, trap = host.load(wasm["echo"]), host.load(wasm["trap"])
    inner = SupervisorStart(
        SupervisorFlags("rest_for_one", intensity=3, period=60),
        [
            ChildSpec("crasher", ActorStart(trap, name="crasher")),
            ChildSpec("svc", TaskStart(trio.sleep_forever), "transient"),
        ],
    )
    children = [
        ChildSpec("counter", ActorStart(echo, name="counter")),
        ChildSpec("inner", inner, kind="supervisor"),
    ]
    async with open_supervisor(host, SupervisorFlags(), children, name="root") as s:
        crasher = host.whereis("crasher")
        assert crasher is not None
        host.send(crasher, "trap")
        await until(lambda: host.whereis("crasher") not in (None, crasher))
        # rest_for_one restarts svc after the crasher: wait for both
        await until(
            lambda: [c.restarts for c in s.child_supervisor("inner").tree().children] == [1, 1]
        )
        tree = s.tree()
        counter_pid = host.whereis("counter")
        assert s.child_supervisor("inner").name == "root/inner"
        with pytest.raises(hostkit.NoProc):
            s.child_supervisor("counter")

    assert (tree.name, tree.state, tree.strategy, tree.recent_restarts) == (
        "root",
        "running",
        Strategy.ONE_FOR_ONE,
        0,
    )
    counter, nested = tree.children
    assert (counter.kind, counter.name, counter.pid) == ("actor", "counter", counter_pid)
    assert counter.supervisor is None and counter.restarts == 0
    assert (nested.kind, nested.pid, nested.status) == ("supervisor", None, ChildStatus.RUNNING)
    assert nested.supervisor is not None
    sub = nested.supervisor
    assert (sub.strategy, sub.intensity, sub.period, sub.recent_restarts) == (
        Strategy.REST_FOR_ONE,
        3,
        60.0,
        1,
    )
    assert [(c.id, c.kind, c.restarts) for c in sub.children] == [
        ("crasher", "actor", 1),
        ("svc", "task", 1),  # rest_for_one: restarted after the crasher
    ]
    data = tree.to_dict()
    assert json.loads(json.dumps(data)) == data
    crash = data["children"][1]["supervisor"]["children"][0]  # type: ignore[index]
    assert crash["pid"] == sub.children[0].pid.id  # type: ignore[union-attr]
    assert crash["last_exit"].startswith("trap: ")
    assert crash["status"] == "running" and crash["restart"] == "permanent"
    assert s.tree().state == "exited"


async def test_restarts_are_audited_through_the_gate(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    import pluggy

    from hostkit.capabilities import Gate
    from hostkit.testing import capture_audit

    gate = Gate(pluggy.PluginManager("hostkit"))
    with capture_audit() as records:
        async with hostkit.open_host(config, capabilities=gate) as host:
            trap = host.load(wasm["trap"])
            spec = ChildSpec("crasher", ActorStart(trap))
            async with open_supervisor(host, SupervisorFlags(), [spec], name="mods") as s:
                first = _pid(s, "crasher")
                assert first is not None
                host.send(first, "trap")
                await until(lambda: _pid(s, "crasher") not in (None, first))
    restarts = records.where(event="restart")
    assert len(restarts) == 1
    assert restarts[0]["supervisor"] == "mods" and restarts[0]["child"] == "crasher"
    assert restarts[0]["plugin"] == "trap"
    assert restarts[0]["detail"].startswith("trap: ")
    # start, crash, restart, the new incarnation, its exit at shutdown
    events = [r["event"] for r in records if r["event"] in ("exit", "restart", "spawn")]
    assert events == ["spawn", "exit", "restart", "spawn", "exit"]


async def test_stopping_a_flat_supervisor_takes_no_snapshot_per_child(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop is linear in the children: no O(n) snapshot per child that ends
    (benchmarks/bench_supervision.py has the figures)."""
    calls = []
    real = sup.SupervisorCore.snapshot

    def counting(self: sup.SupervisorCore) -> sup.SupervisorSnapshot:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(sup.SupervisorCore, "snapshot", counting)
    children = [Script().spec(f"c{i}") for i in range(300)]
    async with open_supervisor(None, SupervisorFlags(), children) as s:
        await s.start_child(Script().spec("late"))
    assert s.exit_reason == ExitReason("shutdown")
    assert calls == []


async def test_dynamic_children_by_pid_follow_otp(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    """child_adm_simple with real actors: a child's pid terminates it; the
    same pid again (it ended) is fine; a live actor that is not a child is
    not_found and left alone."""
    echo = host.load(wasm["echo"])
    stranger = await host.spawn(echo)
    async with open_dynamic_supervisor(host, SupervisorFlags()) as s:
        pid = await s.start_child(ChildSpec("e1", ActorStart(echo)))
        assert isinstance(pid, hostkit.Pid)
        assert s.get_childspec(pid).id == "e1"
        await s.terminate_child(pid)
        assert await host.wait(pid) == ExitReason("shutdown")
        await s.terminate_child(pid)
        with pytest.raises(ChildError, match="not_found"):
            await s.terminate_child(stranger)
        assert host.is_alive(stranger)
    host.kill(stranger)


async def test_stopping_during_a_hanging_actor_start_abandons_it(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    """A guest whose start function spins (bounded only by a 3 s deadline):
    a stop abandons the start at once for a BRUTAL_KILL child, by cancelling
    the spawn, instead of waiting for the deadline."""
    config = hostkit.HostConfig(scheduler_threads=2, activation_timeout=3, cache_dir=cache_dir)
    async with hostkit.open_host(config) as host:
        spin = host.load(wasm["loopstart"])
        async with open_supervisor(host, SupervisorFlags()) as s, trio.open_nursery() as nursery:

            async def start() -> None:
                with pytest.raises(SpawnError, match="start abandoned"):
                    await s.start_child(ChildSpec("spin", ActorStart(spin), shutdown=BRUTAL_KILL))

            nursery.start_soon(start)
            await trio.sleep(0.1)
            t0 = trio.current_time()
            await s.stop()
            elapsed = trio.current_time() - t0
        assert elapsed < 1.0  # not the 3 s deadline
        assert s.exit_reason == ExitReason("shutdown") and s.which_children() == ()
