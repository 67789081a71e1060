"""The pure supervision core against OTP's supervisor rules.

Three layers:

* scenario tests after OTP's supervisor_SUITE (strategy x restart type x exit
  reason, intensity windows, ordering, backoff, auto_shutdown, bad specs);
* a hypothesis state machine comparing the core, driven by a synchronous fake
  driver, with :class:`RefSupervisor`: a deliberately naive transcription of
  supervisor.erl's restart rules, written independently of the core;
* a second state machine with an asynchronous driver (operations complete in
  any order, children die while the supervisor is busy, timers fire late)
  checking invariants: the core's view matches the world, one operation at a
  time, nothing is lost once everything settles.
"""

from __future__ import annotations

import ast
import dataclasses
import random
import types
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import hostkit.supervision as sup
from hostkit._errors import SupervisorSpecError
from hostkit.runtime._pid import SHUTDOWN, ExitReason
from hostkit.supervision import (
    BRUTAL_KILL,
    INFINITY,
    AddChild,
    AutoShutdown,
    Backoff,
    CancelStart,
    ChildExited,
    ChildSpec,
    ChildStarted,
    ChildStartFailed,
    ChildStatus,
    ChildStopped,
    DeleteChild,
    DynamicSupervisorCore,
    Exit,
    Ready,
    RemoveChild,
    Reply,
    Restart,
    RestartChild,
    StartAfter,
    StartChild,
    StopChild,
    StopRequested,
    Strategy,
    SupervisorCore,
    SupervisorFlags,
    TerminateChild,
    TimerFired,
    check_child_specs,
)

ABNORMAL = ("trap", "killed", "error", "fuel")
NORMAL = ("normal", "shutdown")


def spec(id: str, restart: str = "permanent", **kw: Any) -> ChildSpec:
    return ChildSpec(id, start=f"start-{id}", restart=restart, **kw)


class Harness:
    """A synchronous fake driver: every start and stop completes at once.

    ``log`` records ("start", id), ("stop", id), ("after", id, delay),
    ("reply", ref, outcome) and ("exit", cause) in the order the core asked
    for them.
    """

    def __init__(
        self, core: sup.SupervisorCore | sup.DynamicSupervisorCore, fail: set[str] | None = None
    ) -> None:
        self.core = core
        self.now = 0.0
        self.log: list[tuple[Any, ...]] = []
        self.alive: set[str] = set()
        self.fail = set(fail or ())
        self.timers: list[tuple[float, StartAfter]] = []
        self.ready = False
        self.exit: Exit | None = None
        self.pump(core.start())

    def pump(self, actions: list[sup.Action]) -> None:
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, StartChild):
                assert action.id not in self.alive
                self.log.append(("start", action.id))
                if action.id in self.fail:
                    self.fail.discard(action.id)
                    event: sup.Event = ChildStartFailed(action.id, ExitReason("trap", "init"))
                else:
                    self.alive.add(action.id)
                    event = ChildStarted(action.id, pid=f"<{action.id}>")
                queue.extend(self.core.handle(event, self.now))
            elif isinstance(action, StopChild):
                assert action.id in self.alive
                self.alive.discard(action.id)
                self.log.append(("stop", action.id))
                queue.extend(self.core.handle(ChildStopped(action.id), self.now))
            elif isinstance(action, StartAfter):
                self.log.append(("after", action.id, action.delay))
                self.timers.append((self.now + action.delay, action))
            elif isinstance(action, Exit):
                assert not self.alive
                self.log.append(("exit", action.cause))
                self.exit = action
            elif isinstance(action, Reply):
                self.log.append(("reply", action.ref, action.outcome))
            else:  # every start completes at once here: nothing to cancel
                assert isinstance(action, Ready), action
                self.ready = True

    def send(self, event: sup.Event, at: float | None = None) -> None:
        if at is not None:
            self.now = at
        self.pump(self.core.handle(event, self.now))

    def crash(self, id: str, kind: str = "trap", at: float | None = None) -> None:
        self.alive.discard(id)
        self.send(ChildExited(id, ExitReason(kind)), at)

    def fire(self) -> None:
        """Fire the earliest pending timer at its due time."""
        self.timers.sort(key=lambda t: t[0])
        due, timer = self.timers.pop(0)
        self.send(TimerFired(timer.id, timer.token), max(self.now, due))

    def take(self) -> list[tuple[Any, ...]]:
        log, self.log = self.log, []
        return log

    def status(self, id: str) -> ChildStatus | None:
        for child in self.core.snapshot().children:
            if child.id == id:
                return child.status
        return None

    def ids(self) -> list[str]:
        return [c.id for c in self.core.snapshot().children]


def started(*ids: str) -> list[tuple[str, str]]:
    return [("start", i) for i in ids]


def stopped(*ids: str) -> list[tuple[str, str]]:
    return [("stop", i) for i in ids]


def make(strategy: str = "one_for_one", children: str = "abc", **flags: Any) -> Harness:
    core = SupervisorCore(
        SupervisorFlags(strategy, **flags), [spec(i) for i in children], rng=random.Random(0)
    )
    return Harness(core)


# ------------------------------------------------------- start and stop order


def test_children_start_in_order_one_at_a_time() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b"), spec("c")])
    assert core.start() == [StartChild("a", spec("a"))]
    assert core.handle(ChildStarted("a"), 0) == [StartChild("b", spec("b"))]
    assert core.handle(ChildStarted("b"), 0) == [StartChild("c", spec("c"))]
    assert core.handle(ChildStarted("c"), 0) == [Ready()]


def test_stop_requested_stops_in_reverse_order_then_exits_shutdown() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b", shutdown=BRUTAL_KILL)])
    h = Harness(core)
    assert h.ready and h.take() == started("a", "b")
    assert core.handle(StopRequested(), 1) == [StopChild("b", BRUTAL_KILL)]
    assert core.handle(ChildStopped("b"), 1) == [StopChild("a", 5.0)]
    assert core.handle(ChildStopped("a"), 1) == [Exit(ExitReason("shutdown"), "stop_requested")]
    assert core.snapshot().exit_reason == ExitReason("shutdown")


def test_empty_supervisor_is_ready_at_once_and_exits_at_once() -> None:
    core = SupervisorCore(SupervisorFlags())
    assert core.start() == [Ready()]
    assert core.handle(StopRequested(), 0) == [Exit(ExitReason("shutdown"), "stop_requested")]


def test_initial_start_failure_stops_started_children_and_exits_without_ready() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b"), spec("c")])
    h = Harness(core, fail={"c"})
    assert h.take() == [*started("a", "b", "c"), *stopped("b", "a"), ("exit", "start_failed")]
    assert not h.ready
    assert h.exit is not None and h.exit.cause == "start_failed"
    assert "'c'" in h.exit.reason.detail


# ------------------------------------ strategy x restart type x exit reason

RESTARTED = {
    "one_for_one": started("b"),
    "one_for_all": [*stopped("c", "a"), *started("a", "b", "c")],
    "rest_for_one": [*stopped("c"), *started("b", "c")],
}


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("reason", ["normal", "shutdown", "trap", "killed"])
def test_exit_of_middle_child(strategy: str, restart: str, reason: str) -> None:
    core = SupervisorCore(
        SupervisorFlags(strategy, intensity=5), [spec("a"), spec("b", restart), spec("c")]
    )
    h = Harness(core)
    h.take()
    h.crash("b", reason, at=1.0)
    should_restart = restart == "permanent" or (restart == "transient" and reason in ABNORMAL)
    if should_restart:
        assert h.take() == RESTARTED[strategy]
        assert h.alive == {"a", "b", "c"}
        assert core.snapshot().restart_times == (1.0,)
        assert h.status("b") is ChildStatus.RUNNING
    else:
        assert h.take() == []
        assert h.alive == {"a", "c"}
        assert core.snapshot().restart_times == ()
        expected = None if restart == "temporary" else ChildStatus.TERMINATED
        assert h.status("b") is expected


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_temporary_bystander_is_stopped_and_removed_not_restarted(strategy: str) -> None:
    core = SupervisorCore(SupervisorFlags(strategy), [spec("a"), spec("t", "temporary"), spec("c")])
    h = Harness(core)
    h.take()
    h.crash("a", at=1)
    assert h.take() == [*stopped("c", "t"), *started("a", "c")]
    assert h.ids() == ["a", "c"]


def test_one_for_all_restarts_a_transient_child_that_had_ended_normally() -> None:
    # OTP's start_children starts every child in the list, pid or not.
    core = SupervisorCore(
        SupervisorFlags("one_for_all", intensity=5), [spec("a"), spec("b", "transient")]
    )
    h = Harness(core)
    h.crash("b", "normal", at=1)
    h.take()
    h.crash("a", at=2)
    assert h.take() == started("a", "b")


def test_rest_for_one_leaves_earlier_children_alone() -> None:
    h = make("rest_for_one", "abcd")
    h.take()
    h.crash("c", at=1)
    assert h.take() == [*stopped("d"), *started("c", "d")]


# ---------------------------------------------------------------- intensity


def test_intensity_plus_one_restarts_inside_the_period_escalate() -> None:
    h = make("one_for_one", "abc", intensity=3, period=5)
    h.take()
    for t in (0.0, 1.0, 2.0):
        h.crash("b", at=t)
        assert h.take() == started("b")
    h.crash("b", at=3.0)
    assert h.take() == [*stopped("c", "a"), ("exit", "intensity")]
    assert h.exit is not None and h.exit.cause == "intensity"
    assert h.exit.reason.detail == "restart intensity exceeded: 4 restarts in 5 s"


def test_the_same_restarts_spread_wider_than_the_period_do_not_escalate() -> None:
    h = make("one_for_one", "abc", intensity=3, period=5)
    h.take()
    for t in (0.0, 2.0, 4.0, 6.0, 8.0, 10.0):
        h.crash("b", at=t)
        assert h.take() == started("b")
    assert h.exit is None


def test_intensity_window_boundary_is_inclusive_like_otp() -> None:
    # supervisor.erl keeps restarts with R >= Now - Period.
    h = make("one_for_one", "a", intensity=1, period=5)
    h.crash("a", at=10.0)
    h.crash("a", at=15.0)
    assert h.exit is not None and h.exit.cause == "intensity"
    h = make("one_for_one", "a", intensity=1, period=5)
    h.crash("a", at=10.0)
    h.crash("a", at=15.5)
    assert h.exit is None


def test_intensity_zero_escalates_on_the_first_restart() -> None:
    h = make("one_for_all", "abc", intensity=0)
    h.take()
    h.crash("b", at=1)
    assert h.take() == [*stopped("c", "a"), ("exit", "intensity")]


def test_restarts_of_different_children_share_the_window() -> None:
    h = make("one_for_one", "ab", intensity=1, period=5)
    h.take()
    h.crash("a", at=1)
    h.crash("b", at=2)
    assert h.take() == [*started("a"), *stopped("a"), ("exit", "intensity")]


def test_normal_exits_do_not_count_toward_intensity() -> None:
    core = SupervisorCore(SupervisorFlags(intensity=0), [spec("a", "transient"), spec("b")])
    h = Harness(core)
    h.crash("a", "normal", at=1)
    assert h.exit is None and core.snapshot().restart_times == ()


def test_failed_restart_is_retried_and_each_attempt_counts() -> None:
    h = make("one_for_one", "ab", intensity=2, period=10)
    h.take()
    h.fail.add("b")
    h.crash("b", at=1)  # restart 1 fails -> retry (restart 2) succeeds
    assert h.take() == started("b", "b") and h.exit is None
    h.fail.add("b")
    h.crash("b", at=2)  # restart 3 escalates before any start
    assert h.take() == [*stopped("a"), ("exit", "intensity")]


def test_failed_restart_under_one_for_all_restarts_the_whole_group_again() -> None:
    h = make("one_for_all", "abc", intensity=5)
    h.take()
    h.fail.add("b")
    h.crash("c", at=1)
    assert h.take() == [
        *stopped("b", "a"),
        *started("a", "b"),  # b fails: try again, one for all
        *stopped("a"),
        *started("a", "b", "c"),
    ]
    assert h.core.snapshot().restart_times == (1, 1)


# ----------------------------------------------------------- auto_shutdown


def test_any_significant_shuts_down_when_a_significant_child_ends_normally() -> None:
    core = SupervisorCore(
        SupervisorFlags(auto_shutdown="any_significant"),
        [spec("a"), spec("s", "transient", significant=True), spec("c")],
    )
    h = Harness(core)
    h.take()
    h.crash("s", "trap", at=1)  # abnormal: restarted, no shutdown
    assert h.take() == started("s")
    h.crash("s", "normal", at=2)
    assert h.take() == [*stopped("c", "a"), ("exit", "auto_shutdown")]
    assert h.exit is not None and h.exit.cause == "auto_shutdown"


def test_all_significant_waits_for_the_last_significant_child() -> None:
    core = SupervisorCore(
        SupervisorFlags(auto_shutdown=AutoShutdown.ALL_SIGNIFICANT),
        [
            spec("a"),
            spec("s1", "temporary", significant=True),
            spec("s2", "transient", significant=True),
        ],
    )
    h = Harness(core)
    h.take()
    h.crash("s1", "killed", at=1)  # temporary: ends for good whatever the reason
    assert h.take() == [] and h.exit is None
    h.crash("s2", "shutdown", at=2)
    assert h.take() == [*stopped("a"), ("exit", "auto_shutdown")]


def test_significant_child_stopped_as_bystander_does_not_trigger_auto_shutdown() -> None:
    core = SupervisorCore(
        SupervisorFlags("one_for_all", auto_shutdown="any_significant"),
        [spec("a"), spec("s", "transient", significant=True)],
    )
    h = Harness(core)
    h.take()
    h.crash("a", at=1)
    assert h.take() == [*stopped("s"), *started("a", "s")] and h.exit is None


# ------------------------------------------------------------------ backoff


def backoff_harness(strategy: str = "one_for_one", children: str = "a", **kw: Any) -> Harness:
    backoff = Backoff(initial=1.0, factor=2.0, max=10.0, jitter=0.0, reset_after=30.0)
    flags = SupervisorFlags(strategy, intensity=100, period=1000, backoff=backoff)
    return Harness(SupervisorCore(flags, [spec(i) for i in children], **kw))


def test_backoff_delays_grow_exponentially_up_to_the_cap() -> None:
    h = backoff_harness()
    h.take()
    delays = []
    for _ in range(6):
        h.crash("a", at=h.now + 0.5)
        (after,) = h.take()
        delays.append(after[2])
        assert h.status("a") is ChildStatus.RESTARTING
        h.fire()
        assert h.take() == started("a")
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_resets_after_a_stable_period_and_not_before() -> None:
    h = backoff_harness()
    for _ in range(3):
        h.crash("a", at=h.now + 0.5)
        h.fire()
    h.take()
    h.crash("a", at=h.now + 29.5)  # not stable long enough: keeps growing
    assert h.take() == [("after", "a", 8.0)]
    h.fire()
    h.crash("a", at=h.now + 30.0)  # ran reset_after seconds: back to initial
    assert h.take()[-1] == ("after", "a", 1.0)


def test_backoff_with_jitter_is_reproducible_and_bounded() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, max=10.0, jitter=0.25)
    flags = SupervisorFlags(intensity=100, period=1000, backoff=backoff)
    h = Harness(SupervisorCore(flags, [spec("a")], rng=random.Random(42)))
    rng = random.Random(42)
    for base in (1.0, 2.0, 4.0, 8.0, 10.0):
        h.crash("a", at=h.now + 0.5)
        (after,) = [e for e in h.take() if e[0] == "after"]
        assert after[2] == pytest.approx(base * (1 + 0.25 * rng.uniform(-1, 1)))
        assert base * 0.75 <= after[2] <= base * 1.25
        h.fire()


def test_backoff_under_one_for_all_stops_first_then_waits_then_starts_all() -> None:
    h = backoff_harness("one_for_all", "abc")
    h.take()
    h.crash("b", at=1)
    assert h.take() == [*stopped("c", "a"), ("after", "b", 1.0)]
    assert h.alive == set()
    h.fire()
    assert h.now == 2.0 and h.take() == started("a", "b", "c")


def test_backoff_wait_does_not_block_other_children() -> None:
    h = backoff_harness("one_for_one", "ab")
    h.take()
    h.crash("a", at=1)
    h.crash("b", at=1.5)
    assert h.take() == [("after", "a", 1.0), ("after", "b", 1.0)]
    h.fire()
    h.fire()
    assert h.take() == started("a", "b")


def test_absorbed_backoff_timer_goes_stale() -> None:
    h = backoff_harness("rest_for_one", "za")
    h.take()
    h.crash("a", at=1)
    (stale,) = [t for _, t in h.timers]
    assert h.take() == [("after", "a", 1.0)]
    h.crash("z", at=1.5)  # rest_for_one from z absorbs a's pending restart
    assert h.take() == [("after", "z", 1.0)]
    assert h.core.handle(TimerFired(stale.id, stale.token), 2.0) == []
    h.timers = [t for t in h.timers if t[1] != stale]
    h.fire()
    assert h.take() == started("z", "a")


def test_stop_requested_during_backoff_wait_exits_and_ignores_the_timer() -> None:
    h = backoff_harness("one_for_one", "ab")
    h.crash("a", at=1)
    h.take()
    h.send(StopRequested(), at=1.2)
    assert h.take() == [*stopped("b"), ("exit", "stop_requested")]
    assert [c.status for c in h.core.snapshot().children] == [ChildStatus.TERMINATED] * 2
    h.fire()  # late timer: ignored
    assert h.take() == []


# ------------------------------------------- events while the core is busy


def test_exit_of_a_child_about_to_be_stopped_is_consumed_as_its_stop() -> None:
    core = SupervisorCore(SupervisorFlags("one_for_all", intensity=5), [spec(i) for i in "abc"])
    Harness(core)
    assert core.handle(ChildExited("a", ExitReason("trap")), 1) == [StopChild("c", 5.0)]
    assert core.handle(ChildExited("b", ExitReason("trap")), 1) == []  # busy: queued
    # b is already dead: no StopChild for it; its exit is not a second restart.
    assert core.handle(ChildStopped("c"), 1) == [StartChild("a", spec("a"))]
    assert core.handle(ChildStarted("a"), 1) == [StartChild("b", spec("b"))]
    assert core.handle(ChildStarted("b"), 1) == [StartChild("c", spec("c"))]
    assert core.handle(ChildStarted("c"), 1) == []
    assert core.snapshot().restart_times == (1,)


def test_exit_while_busy_is_handled_after_the_current_job() -> None:
    core = SupervisorCore(SupervisorFlags(intensity=5), [spec("a"), spec("b")])
    Harness(core)
    assert core.handle(ChildExited("a", ExitReason("trap")), 1) == [StartChild("a", spec("a"))]
    assert core.handle(ChildExited("b", ExitReason("trap")), 2) == []
    assert core.snapshot().children[1].status is ChildStatus.TERMINATED
    assert core.handle(ChildStarted("a"), 3) == [StartChild("b", spec("b"))]
    assert core.snapshot().restart_times == (1, 2)  # counted at its arrival time


def test_child_exit_racing_a_stop_counts_as_the_stop() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b")])
    Harness(core)
    assert core.handle(StopRequested(), 1) == [StopChild("b", 5.0)]
    assert core.handle(ChildExited("b", ExitReason("killed")), 1) == [StopChild("a", 5.0)]


def test_stop_requested_during_initial_start_cancels_it_and_starts_no_more() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b")])
    core.start()
    assert core.handle(StopRequested(), 0) == [CancelStart("a", 5.0)]
    assert core.handle(ChildStarted("a"), 0) == [StopChild("a", 5.0)]  # b never starts
    assert core.handle(ChildStopped("a"), 1) == [Exit(SHUTDOWN, "stop_requested")]


def test_stop_requested_during_initial_start_whose_start_is_cancelled_exits_shutdown() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b")])
    core.start()
    assert core.handle(StopRequested(), 0) == [CancelStart("a", 5.0)]
    cancelled = ChildStartFailed("a", ExitReason("killed", "start cancelled"))
    assert core.handle(cancelled, 5) == [Exit(SHUTDOWN, "stop_requested")]


# -------------------------------------------------- dynamic children, dynamic supervisor


def test_add_child_appends_and_starts_it_remove_child_stops_and_forgets_it() -> None:
    h = make("rest_for_one", "ab")
    h.take()
    h.send(AddChild(spec("c", "transient")))
    assert h.take() == started("c") and h.ids() == ["a", "b", "c"]
    h.crash("b", at=1)
    assert h.take() == [*stopped("c"), *started("b", "c")]
    h.send(RemoveChild("b"))
    assert h.take() == stopped("b") and h.ids() == ["a", "c"]


def test_add_child_whose_start_fails_is_not_kept_and_not_counted() -> None:
    h = make("one_for_one", "a", intensity=0)
    h.fail.add("x")
    h.send(AddChild(spec("x")))
    assert h.ids() == ["a"] and h.exit is None


def test_bad_dynamic_requests_raise_and_change_nothing() -> None:
    h = make("one_for_one", "ab")
    before = h.core.snapshot()
    with pytest.raises(SupervisorSpecError, match="duplicate child id 'a'"):
        h.core.handle(AddChild(spec("a")), 1)
    with pytest.raises(SupervisorSpecError, match="'zz'"):
        h.core.handle(RemoveChild("zz"), 1)
    with pytest.raises(SupervisorSpecError, match="significant"):
        h.core.handle(AddChild(spec("s", "transient", significant=True)), 1)
    assert h.core.snapshot() == before


def test_dynamic_supervisor_starts_empty_and_adds_children() -> None:
    core = DynamicSupervisorCore(SupervisorFlags(intensity=5))
    assert core.start() == [Ready()]
    assert core.handle(AddChild(spec("w1")), 0) == [StartChild("w1", spec("w1"))]
    assert core.handle(ChildStarted("w1", pid=7), 0) == []
    assert core.snapshot().children[0].pid == 7


def test_dynamic_supervisor_forgets_children_that_end_for_good() -> None:
    h = Harness(DynamicSupervisorCore(SupervisorFlags(intensity=5)))
    for id in ("p", "t"):
        h.send(AddChild(spec(id, "transient")))
    h.crash("t", "normal", at=1)
    h.crash("p", "trap", at=2)
    assert h.ids() == ["p"] and h.take()[-1] == ("start", "p")


def test_dynamic_supervisor_stops_all_children_at_once() -> None:
    core = DynamicSupervisorCore(SupervisorFlags())
    h = Harness(core)
    for id in "abc":
        h.send(AddChild(spec(id)))
    assert core.handle(StopRequested(), 1) == [StopChild(i, 5.0) for i in "cba"]
    assert core.handle(ChildStopped("b"), 1) == []
    assert core.handle(ChildStopped("c"), 1) == []
    assert core.handle(ChildStopped("a"), 1) == [Exit(ExitReason("shutdown"), "stop_requested")]
    assert core.snapshot().children == ()


def test_dynamic_supervisor_applies_intensity() -> None:
    h = Harness(DynamicSupervisorCore(SupervisorFlags(intensity=1, period=5)))
    h.send(AddChild(spec("w")))
    h.crash("w", at=1)
    h.crash("w", at=2)
    assert h.exit is not None and h.exit.cause == "intensity"


def test_dynamic_supervisor_is_one_for_one_only() -> None:
    with pytest.raises(SupervisorSpecError, match="strategy"):
        DynamicSupervisorCore(SupervisorFlags("one_for_all"))


# ------------------------------------------------------------ child admin


def test_a_failed_restart_is_retried_after_what_arrived_meanwhile() -> None:
    """OTP-9549: the retry of a failed restart queues behind requests that
    arrived during the attempt, so a terminate ends the loop."""
    core = SupervisorCore(SupervisorFlags(intensity=10, period=10), [spec("a"), spec("b")])
    core.start()
    core.handle(ChildStarted("a", "<a1>"), 0)
    core.handle(ChildStarted("b", "<b1>"), 0)
    assert core.handle(ChildExited("a", ExitReason("trap")), 1) == [StartChild("a", spec("a"))]
    assert core.handle(TerminateChild("a", 7), 2) == [CancelStart("a", 5.0)]
    assert core.handle(RestartChild("b", 8), 2) == []  # busy: queued, answered in order
    failed = ChildStartFailed("a", ExitReason("killed", "start cancelled"))
    assert core.handle(failed, 3) == [Reply(7, "ok"), Reply(8, "running")]
    assert core.status_of("a") is ChildStatus.TERMINATED  # spec kept, retry dropped
    assert core.snapshot().restart_times == (1,)


def test_terminate_child_drops_a_restart_waiting_out_its_backoff() -> None:
    h = backoff_harness(children="ab")
    h.take()
    h.crash("a", at=1)
    assert h.take() == [("after", "a", 1.0)] and h.status("a") is ChildStatus.RESTARTING
    h.send(TerminateChild("a", 1))
    assert h.take() == [("reply", 1, "ok")] and h.status("a") is ChildStatus.TERMINATED
    h.fire()  # the stale timer starts nothing
    assert h.take() == []
    h.send(RestartChild("a", 2))
    assert h.take() == [("start", "a"), ("reply", 2, "ok")]


def test_admin_requests_on_a_dynamic_supervisor() -> None:
    h = Harness(DynamicSupervisorCore(SupervisorFlags()))
    h.send(AddChild(spec("x", kind="supervisor")))
    h.take()
    assert h.core.id_of("<x>") == "x"
    h.send(RestartChild("x", 1))
    h.send(DeleteChild("x", 2))
    h.send(TerminateChild("x", 3))
    h.send(TerminateChild("x", 4))
    assert h.take() == [
        ("reply", 1, "dynamic"),
        ("reply", 2, "dynamic"),
        ("stop", "x"),
        ("reply", 3, "ok"),
        ("reply", 4, "not_found"),  # forgotten: the driver answers by pid
    ]
    assert h.core.id_of("<x>") is None and h.ids() == []


def test_count_children_and_get_childspec() -> None:
    core = SupervisorCore(
        SupervisorFlags(), [spec("a"), spec("s", kind="supervisor"), spec("t", "transient")]
    )
    core.start()
    core.handle(ChildStarted("a"), 0)
    assert core.count_children() == sup.ChildCounts(specs=3, active=1, supervisors=1, workers=2)
    assert core.get_childspec("s") == spec("s", kind="supervisor")
    assert core.get_childspec("nope") is None


def test_stop_cancels_only_starts_under_way_and_terminate_only_a_restart() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a", shutdown=BRUTAL_KILL)])
    core.start()
    assert core.handle(TerminateChild("a", 1), 0) == []  # the initial start is not cancelled
    assert core.handle(StopRequested(), 0) == [CancelStart("a", BRUTAL_KILL)]
    assert core.handle(StopRequested(), 0) == []  # asked once


# ------------------------------------------------- introspection and contract


def test_snapshot_tracks_pids_statuses_and_restart_counts() -> None:
    h = make("one_for_all", "ab", intensity=5)
    h.crash("a", at=1)
    h.crash("b", at=2)
    children = h.core.snapshot().children
    assert [(c.id, c.status, c.pid, c.restarts) for c in children] == [
        ("a", ChildStatus.RUNNING, "<a>", 2),
        ("b", ChildStatus.RUNNING, "<b>", 2),
    ]
    core = SupervisorCore(SupervisorFlags(), [spec("a")])
    core.start()
    assert core.snapshot().children[0].status is ChildStatus.STARTING
    core.handle(ChildStarted("a", pid=3), 0)
    core.handle(ChildExited("a", ExitReason("trap")), 1)
    assert core.snapshot().children[0].pid is None


def test_driver_contract_violations_raise_runtime_error() -> None:
    core = SupervisorCore(SupervisorFlags(), [spec("a"), spec("b")])
    with pytest.raises(RuntimeError, match="start"):
        core.handle(ChildStarted("a"), 0)
    core.start()
    with pytest.raises(RuntimeError):
        core.start()
    with pytest.raises(RuntimeError, match="starting"):
        core.handle(ChildStopped("a"), 0)
    with pytest.raises(RuntimeError, match="not_started"):
        core.handle(ChildStarted("b"), 0)
    with pytest.raises(RuntimeError, match="no child"):
        core.handle(ChildExited("zz", ExitReason("trap")), 0)


def test_after_exit_only_timers_and_stop_requests_are_tolerated() -> None:
    h = make("one_for_one", "a", intensity=0)
    h.crash("a", at=1)
    assert h.exit is not None
    assert h.core.handle(StopRequested(), 2) == []
    assert h.core.handle(TimerFired("a", 99), 2) == []
    with pytest.raises(RuntimeError, match="exited"):
        h.core.handle(AddChild(spec("b")), 2)


# -------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: SupervisorFlags(intensity=-1), "intensity"),
        (lambda: SupervisorFlags(intensity=1.5), "intensity"),  # type: ignore[arg-type]
        (lambda: SupervisorFlags(period=0), "period"),
        (lambda: SupervisorFlags(period=-3), "period"),
        (lambda: SupervisorFlags(strategy="one_for_some"), "strategy"),
        (lambda: SupervisorFlags(strategy="simple_one_for_one"), "DynamicSupervisorCore"),
        (lambda: SupervisorFlags(auto_shutdown="sometimes"), "auto_shutdown"),
        (lambda: SupervisorFlags(backoff=3), "backoff"),  # type: ignore[arg-type]
        (lambda: ChildSpec("", None), "id"),
        (lambda: ChildSpec("a", None, shutdown=-1), "shutdown"),
        (lambda: ChildSpec("a", None, shutdown="eventually"), "shutdown"),
        (lambda: ChildSpec("a", None, restart="forever"), "restart"),
        (lambda: ChildSpec("a", None, significant=True), "significant"),
        (lambda: ChildSpec("a", None, kind="daemon"), "kind"),
        (lambda: Backoff(initial=0), "backoff.initial"),
        (lambda: Backoff(initial=1, factor=0.5), "backoff.factor"),
        (lambda: Backoff(initial=2, max=1), "backoff.max"),
        (lambda: Backoff(initial=1, jitter=1.5), "backoff.jitter"),
        (lambda: Backoff(initial=1, reset_after=0), "backoff.reset_after"),
        (lambda: check_child_specs([spec("a"), spec("b"), spec("a")]), "duplicate child id 'a'"),
        (lambda: check_child_specs([{"id": "a"}]), "children[0]"),  # type: ignore[list-item]
        (
            lambda: SupervisorCore(SupervisorFlags(), [spec("s", "transient", significant=True)]),
            "significant",
        ),
    ],
)
def test_invalid_specs_raise_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(SupervisorSpecError) as info:
        build()
    assert field in str(info.value)


def test_strings_are_converted_to_enums() -> None:
    child = ChildSpec("a", None, restart="transient", shutdown="brutal_kill")
    assert child.restart is Restart.TRANSIENT and child.shutdown is BRUTAL_KILL
    flags = SupervisorFlags("REST_FOR_ONE", auto_shutdown="all_significant")
    assert flags.strategy is Strategy.REST_FOR_ONE
    assert flags.auto_shutdown is AutoShutdown.ALL_SIGNIFICANT
    assert dataclasses.replace(child, restart="temporary").restart is Restart.TEMPORARY  # type: ignore[arg-type]


def test_defaults_follow_otp() -> None:
    flags = SupervisorFlags()
    assert (flags.strategy, flags.intensity, flags.period) == (Strategy.ONE_FOR_ONE, 1, 5.0)
    assert flags.auto_shutdown is AutoShutdown.NEVER and flags.backoff is None
    assert ChildSpec("w", None).shutdown == 5.0
    assert ChildSpec("s", None, kind="supervisor").shutdown is INFINITY
    assert ChildSpec("w", None).restart is Restart.PERMANENT


# ------------------------------------------------------------ public surface


def test_every_public_name_is_exported_once() -> None:
    from hostkit.supervision import _core, _spec

    assert len(sup.__all__) == len(set(sup.__all__))
    for name in sup.__all__:
        assert hasattr(sup, name), name
    for module in (_core, _spec):
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and not isinstance(v, types.ModuleType)
            and getattr(v, "__module__", module.__name__) == module.__name__
        }
        assert public <= set(sup.__all__), public - set(sup.__all__)


def test_the_core_imports_neither_trio_nor_wasmtime() -> None:
    # Static check of the core's own import closure (package __init__ files,
    # which re-export the runtime, are not part of it).
    root = Path(sup.__file__).resolve().parent.parent
    todo = [root / "supervision" / "_core.py", root / "supervision" / "_spec.py"]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = path.parent
                    for _ in range(node.level - 1):
                        base = base.parent
                    target = base.joinpath(*(node.module or "").split("."))
                    todo.extend(p for p in (target.with_suffix(".py"),) if p.exists())
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in ("trio", "wasmtime", "hostkit"), (path, name)
    assert {p.name for p in seen} == {"_core.py", "_events.py", "_spec.py", "_errors.py", "_pid.py"}


# ===================================================== the reference model


class RefSupervisor:
    """supervisor.erl's restart rules, synchronously, as plainly as possible.

    Children are dicts in a list; starting and stopping are instantaneous and
    only logged. ``fail`` holds ids whose next start fails.
    """

    def __init__(
        self, flags: dict[str, Any], specs: list[ChildSpec], dynamic: bool, fail: set[str]
    ) -> None:
        self.strategy = flags["strategy"]
        self.intensity = flags["intensity"]
        self.period = flags["period"]
        self.auto = flags["auto_shutdown"]
        self.dynamic = dynamic
        self.kids: list[dict[str, Any]] = []
        self.fail = set(fail)
        self.log: list[tuple[Any, ...]] = []
        self.times: list[float] = []
        self.exited: str | None = None
        for s in specs:
            self.kids.append({"id": s.id, "restart": s.restart.value, "sig": s.significant})
        for kid in list(self.kids):
            if not self.start(kid):
                self.shutdown("start_failed")
                return

    def find(self, id: str) -> dict[str, Any]:
        return next(k for k in self.kids if k["id"] == id)

    def start(self, kid: dict[str, Any]) -> bool:
        self.log.append(("start", kid["id"]))
        kid["up"] = kid["id"] not in self.fail
        self.fail.discard(kid["id"])
        return bool(kid["up"])

    def stop(self, kid: dict[str, Any]) -> None:
        if kid.get("up"):
            self.log.append(("stop", kid["id"]))
            kid["up"] = False

    def shutdown(self, kind: str) -> None:
        for kid in reversed(self.kids):
            self.stop(kid)
        self.log.append(("exit", kind))
        self.exited = kind

    def exit(self, id: str, kind: str, now: float) -> None:
        kid = self.find(id)
        kid["up"] = False
        if kid["restart"] == "permanent" or (kid["restart"] == "transient" and kind in ABNORMAL):
            self.restart(kid, now)
            return
        if kid["restart"] == "temporary" or self.dynamic:
            self.kids.remove(kid)
        last = not any(k["sig"] and k["up"] for k in self.kids)
        if kid["sig"] and (
            self.auto == "any_significant" or (self.auto == "all_significant" and last)
        ):
            self.shutdown("auto_shutdown")

    def restart(self, kid: dict[str, Any], now: float) -> None:
        while True:
            self.times = [t for t in self.times if t >= now - self.period] + [now]
            if len(self.times) > self.intensity:
                if self.dynamic:
                    self.kids.remove(kid)
                self.shutdown("intensity")
                return
            i = self.kids.index(kid)
            group = {
                "one_for_one": [kid],
                "one_for_all": list(self.kids),
                "rest_for_one": self.kids[i:],
            }[self.strategy]
            for other in reversed(group):
                if other is not kid:
                    self.stop(other)
            for other in group:
                if other is not kid and other["restart"] == "temporary":
                    self.kids.remove(other)
            failed = None
            for other in [g for g in group if g in self.kids]:
                if not self.start(other):
                    failed = other
                    break
            if failed is None:
                return
            kid = failed

    def add(self, s: ChildSpec) -> None:
        kid = {"id": s.id, "restart": s.restart.value, "sig": s.significant}
        self.kids.append(kid)
        if not self.start(kid):
            self.kids.remove(kid)

    def remove(self, id: str) -> None:
        kid = self.find(id)
        self.stop(kid)
        self.kids.remove(kid)

    # OTP's child-admin calls; each returns what supervisor.erl answers.

    def lookup(self, id: str) -> dict[str, Any] | None:
        return next((k for k in self.kids if k["id"] == id), None)

    def terminate_child(self, id: str) -> str:
        kid = self.lookup(id)
        if kid is None:
            return "not_found"
        self.stop(kid)
        if kid["restart"] == "temporary" or self.dynamic:
            self.kids.remove(kid)
        return "ok"

    def restart_child(self, id: str) -> str:
        kid = self.lookup(id)
        if self.dynamic:
            return "dynamic"
        if kid is None:
            return "not_found"
        if kid.get("up"):
            return "running"
        return "ok" if self.start(kid) else "failed"

    def delete_child(self, id: str) -> str:
        kid = self.lookup(id)
        if self.dynamic:
            return "dynamic"
        if kid is None:
            return "not_found"
        if kid.get("up"):
            return "running"
        self.kids.remove(kid)
        return "ok"


KINDS = st.sampled_from([*NORMAL, *ABNORMAL])
ADMIN_EVENTS: dict[str, Any] = {
    "terminate_child": TerminateChild,
    "restart_child": RestartChild,
    "delete_child": DeleteChild,
}
ADMIN = st.sampled_from(sorted(ADMIN_EVENTS))
STEPS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 6.0, 10.0])  # hits period edges
RARELY = st.integers(0, 4).map(lambda n: n == 0)
PERIODS = st.sampled_from([0.5, 1.0, 2.0, 5.0, 10.0])


@st.composite
def supervisor_setups(draw: st.DrawFn) -> tuple[dict[str, Any], list[ChildSpec], bool]:
    dynamic = draw(st.booleans())
    # A dynamic supervisor cannot auto_shutdown (OTP's bad_combination).
    auto = (
        "never"
        if dynamic
        else draw(st.sampled_from(["never", "any_significant", "all_significant"]))
    )
    flags = {
        "strategy": "one_for_one"
        if dynamic
        else draw(st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"])),
        "intensity": draw(st.integers(0, 4)),
        "period": draw(PERIODS),
        "auto_shutdown": auto,
    }
    specs = []
    for i in range(draw(st.integers(0 if dynamic else 1, 5))):
        restart = draw(st.sampled_from(["permanent", "transient", "temporary"]))
        significant = auto != "never" and restart != "permanent" and draw(st.integers(0, 3)) > 0
        specs.append(spec(f"c{i}", restart, significant=significant))
    return flags, specs, dynamic


class AgainstReference(RuleBasedStateMachine):
    """Random exits, start failures, additions and removals over random
    strategies and flags: the core must do exactly what the reference does."""

    @initialize(setup=supervisor_setups(), fail=st.sampled_from([set(), set(), set(), {"c1"}]))
    def setup(self, setup: tuple[dict[str, Any], list[ChildSpec], bool], fail: set[str]) -> None:
        flags, specs, dynamic = setup
        sflags = SupervisorFlags(**flags)
        self.added = 0
        self.refs = 0
        if dynamic:  # the same children, added one by one after the start
            self.h = Harness(DynamicSupervisorCore(sflags), fail=fail)
            self.ref = RefSupervisor(flags, [], dynamic=True, fail=fail)
            for s in specs:
                self.h.send(AddChild(s))
                self.ref.add(s)
        else:
            self.h = Harness(SupervisorCore(sflags, specs), fail=fail)
            self.ref = RefSupervisor(flags, specs, dynamic=False, fail=fail)
        self.h.fail.clear()  # armed failures not used by the start are dropped on both sides
        self.ref.fail.clear()

    def running(self) -> list[str]:
        return sorted(self.h.alive)

    @precondition(lambda self: self.h.exit is None and self.h.alive)
    @rule(data=st.data(), kind=KINDS, dt=STEPS)
    def child_exits(self, data: st.DataObject, kind: str, dt: float) -> None:
        id = data.draw(st.sampled_from(self.running()))
        self.h.crash(id, kind, at=self.h.now + dt)
        self.ref.exit(id, kind, self.h.now)

    @precondition(lambda self: self.h.exit is None and self.h.ids())
    @rule(data=st.data())
    def next_start_fails(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(self.h.ids()))
        self.h.fail.add(id)
        self.ref.fail.add(id)

    @precondition(lambda self: self.h.exit is None)
    @rule(restart=st.sampled_from(["permanent", "transient", "temporary"]), fails=st.booleans())
    def add_child(self, restart: str, fails: bool) -> None:
        self.added += 1
        s = spec(f"n{self.added}", restart)
        if fails:
            self.h.fail.add(s.id)
            self.ref.fail.add(s.id)
        self.h.send(AddChild(s))
        self.ref.add(s)

    @precondition(lambda self: self.h.exit is None and self.h.ids())
    @rule(data=st.data(), rare=RARELY)
    def remove_child(self, data: st.DataObject, rare: bool) -> None:
        if rare:
            id = data.draw(st.sampled_from(self.h.ids()))
            self.h.send(RemoveChild(id))
            self.ref.remove(id)

    @precondition(lambda self: self.h.exit is None)
    @rule(data=st.data(), request=ADMIN, known=st.booleans())
    def admin_request(self, data: st.DataObject, request: str, known: bool) -> None:
        ids = self.h.ids()
        id = data.draw(st.sampled_from(ids)) if known and ids else "nobody"
        self.refs += 1
        self.h.send(ADMIN_EVENTS[request](id, self.refs))
        outcome = getattr(self.ref, request)(id)
        self.ref.log.append(("reply", self.refs, outcome))

    @precondition(lambda self: self.h.exit is None)
    @rule(rare=RARELY)
    def stop_requested(self, rare: bool) -> None:
        if rare:  # ending the run early explores less
            self.h.send(StopRequested())
            self.ref.shutdown("stop_requested")

    @rule(dt=STEPS)
    def time_passes(self, dt: float) -> None:
        self.h.now += dt
        if self.h.exit is not None:  # late requests after the exit are no-ops
            assert self.h.core.handle(StopRequested(), self.h.now) == []

    @invariant()
    def same_decisions(self) -> None:
        assert self.h.take() == self.ref.log
        self.ref.log = []
        assert (self.h.exit.cause if self.h.exit else None) == self.ref.exited
        running = {c.id for c in self.h.core.snapshot().children if c.status is ChildStatus.RUNNING}
        assert running == self.h.alive == {k["id"] for k in self.ref.kids if k.get("up")}
        if self.h.exit is None:
            assert self.h.ids() == [k["id"] for k in self.ref.kids]


TestAgainstReference = AgainstReference.TestCase
TestAgainstReference.settings = settings(
    max_examples=400, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
)


# ================================================ asynchronous driver invariants


class AsyncDriver(RuleBasedStateMachine):
    """Operations complete in any order and children die at any moment.

    The model is the world the driver sees: which processes are alive, which
    operations are outstanding, which timers are armed. The core's snapshot
    must agree with it after every step, and once the world settles nothing
    may be left half-restarted.
    """

    @initialize(setup=supervisor_setups(), backoff=st.booleans(), seed=st.integers(0, 9))
    def setup(
        self, setup: tuple[dict[str, Any], list[ChildSpec], bool], backoff: bool, seed: int
    ) -> None:
        flags, specs, dynamic = setup
        flags = dict(flags, backoff=Backoff(0.5, jitter=0.5, reset_after=2.0) if backoff else None)
        sflags = SupervisorFlags(**flags)
        rng = random.Random(seed)
        self.dynamic = dynamic
        self.core: Any = (
            DynamicSupervisorCore(sflags, rng=rng)
            if dynamic
            else SupervisorCore(sflags, specs, rng=rng)
        )
        self.now = 0.0
        self.alive: set[str] = set()
        self.ops: dict[str, str] = {}
        self.timers: dict[int, tuple[float, str]] = {}
        self.exit: Exit | None = None
        self.temporary_started: set[str] = set()
        self.added = 0
        self.requests: set[int] = set()  # admin refs not answered yet
        self.refs = 0
        self.apply(self.core.start())
        if dynamic:
            for s in specs:
                self.apply(self.core.handle(AddChild(s), self.now))

    def apply(self, actions: list[sup.Action]) -> None:
        for action in actions:
            assert self.exit is None, "action after Exit"
            if isinstance(action, StartChild):
                assert action.id not in self.alive and action.id not in self.ops
                if action.spec.restart is Restart.TEMPORARY:
                    assert action.id not in self.temporary_started, "temporary restarted"
                    self.temporary_started.add(action.id)
                self.ops[action.id] = "start"
            elif isinstance(action, StopChild):
                assert action.id in self.alive and action.id not in self.ops
                self.ops[action.id] = "stop"
            elif isinstance(action, StartAfter):
                assert action.delay > 0
                self.timers[action.token] = (self.now + action.delay, action.id)
            elif isinstance(action, Exit):
                assert not self.alive and not self.ops
                self.exit = action
                self.requests.clear()  # the driver tells those callers it exited
            elif isinstance(action, Reply):
                assert action.ref in self.requests, "a reply to nothing, or a second one"
                self.requests.remove(action.ref)
                if action.outcome == "ok" and action.pid is not None:
                    assert action.pid in self.alive
            elif isinstance(action, CancelStart):
                assert self.ops.get(action.id) == "start", "cancelling a start not under way"
        if not self.dynamic or self.exit is None:
            starts = [k for k in self.ops.values() if k == "start"]
            assert len(starts) <= 1
            assert self.dynamic or len(self.ops) <= 1

    def send(self, event: sup.Event) -> None:
        self.apply(self.core.handle(event, self.now))

    def complete(self, id: str, ok: bool = True) -> None:
        kind = self.ops.pop(id)
        if kind == "stop":
            self.alive.discard(id)
            self.send(ChildStopped(id))
        elif ok:
            self.alive.add(id)
            self.send(ChildStarted(id, pid=id))
        else:
            self.send(ChildStartFailed(id, ExitReason("trap")))

    @precondition(lambda self: self.ops)
    @rule(data=st.data(), ok=st.booleans())
    def complete_an_operation(self, data: st.DataObject, ok: bool) -> None:
        self.complete(data.draw(st.sampled_from(sorted(self.ops))), ok)

    @precondition(lambda self: self.alive)
    @rule(data=st.data(), kind=KINDS)
    def a_child_dies(self, data: st.DataObject, kind: str) -> None:
        id = data.draw(st.sampled_from(sorted(self.alive)))
        self.alive.discard(id)
        self.ops.pop(id, None)  # a death racing our stop completes it
        self.send(ChildExited(id, ExitReason(kind)))

    @precondition(lambda self: self.timers)
    @rule(data=st.data())
    def a_timer_fires(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(sorted(self.timers)))
        due, id = self.timers.pop(token)
        self.now = max(self.now, due)
        self.send(TimerFired(id, token))

    @rule(dt=STEPS)
    def time_passes(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.exit is None)
    @rule(restart=st.sampled_from(["permanent", "transient", "temporary"]))
    def add_child(self, restart: str) -> None:
        self.added += 1
        self.send(AddChild(spec(f"n{self.added}", restart)))

    @precondition(lambda self: self.exit is None and self.core.snapshot().children)
    @rule(data=st.data(), rare=RARELY)
    def remove_child(self, data: st.DataObject, rare: bool) -> None:
        if rare:
            ids = [c.id for c in self.core.snapshot().children]
            self.send(RemoveChild(data.draw(st.sampled_from(ids))))

    @precondition(lambda self: self.exit is None)
    @rule(data=st.data(), request=ADMIN, known=st.booleans())
    def admin_request(self, data: st.DataObject, request: str, known: bool) -> None:
        ids = [c.id for c in self.core.snapshot().children]
        id = data.draw(st.sampled_from(ids)) if known and ids else "nobody"
        self.refs += 1
        self.requests.add(self.refs)
        self.send(ADMIN_EVENTS[request](id, self.refs))

    @precondition(lambda self: self.exit is None)
    @rule(rare=RARELY)
    def stop_requested(self, rare: bool) -> None:
        if rare:
            self.send(StopRequested())

    @rule()
    def settle(self) -> None:
        """Let every operation succeed and every timer fire: the supervisor
        must end up either exited or with every child running or terminated."""
        for _ in range(1000):
            if self.ops:
                self.complete(sorted(self.ops)[0])
            elif self.timers:
                token = min(self.timers, key=lambda t: self.timers[t])
                due, id = self.timers.pop(token)
                self.now = max(self.now, due)
                self.send(TimerFired(id, token))
            else:
                break
        snap = self.core.snapshot()
        if self.exit is None:
            statuses = {c.id: c.status for c in snap.children}
            assert set(statuses.values()) <= {ChildStatus.RUNNING, ChildStatus.TERMINATED}
            assert {i for i, s in statuses.items() if s is ChildStatus.RUNNING} == self.alive
            assert len(snap.restart_times) <= self.core.flags.intensity
            assert not self.requests, "an admin request was never answered"
        else:
            assert not self.alive

    @invariant()
    def core_agrees_with_the_world(self) -> None:
        if not hasattr(self, "core"):
            return
        children = {c.id: c for c in self.core.snapshot().children}
        for id in self.alive:
            assert children[id].status in (ChildStatus.RUNNING, ChildStatus.STOPPING)
        for id, c in children.items():
            op = self.ops.get(id)
            if c.status is ChildStatus.RUNNING:
                assert id in self.alive and op is None and c.pid == id
            elif c.status is ChildStatus.STARTING:
                assert op == "start"
            elif c.status is ChildStatus.STOPPING:
                assert op == "stop" and id in self.alive
            else:
                assert id not in self.alive and op is None and c.pid is None
        if self.exit is not None:
            assert not self.alive and not self.ops
            assert all(c.status is not ChildStatus.RUNNING for c in children.values())


TestAsyncDriver = AsyncDriver.TestCase
TestAsyncDriver.settings = settings(
    max_examples=400, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)


def test_any_object_can_be_a_pid_but_only_hashable_ones_are_found_by_pid() -> None:
    core = DynamicSupervisorCore(SupervisorFlags())
    core.start()
    core.handle(AddChild(spec("a")), 0)
    core.handle(ChildStarted("a", pid=["not", "hashable"]), 0)
    assert core.id_of(("not", "hashable")) is None
    core.handle(AddChild(spec("b")), 0)
    core.handle(ChildStarted("b", pid=("b", 1)), 0)
    assert core.id_of(("b", 1)) == "b"
    assert core.handle(ChildExited("a", ExitReason("trap")), 1) == [StartChild("a", spec("a"))]


def test_an_exit_queued_after_an_admin_request_comes_after_it() -> None:
    """Mailbox order: a child that dies after restart_child/terminate_child
    was asked (while the core was busy) is still running for those requests."""
    core = SupervisorCore(SupervisorFlags(intensity=5), [spec("a"), spec("b")])
    core.start()
    core.handle(ChildStarted("a", "<a1>"), 0)
    core.handle(ChildStarted("b", "<b1>"), 0)
    assert core.handle(TerminateChild("a", 1), 1) == [StopChild("a", 5.0)]
    assert core.handle(RestartChild("b", 2), 1) == []
    assert core.handle(TerminateChild("b", 3), 1) == []
    assert core.handle(ChildExited("b", ExitReason("normal")), 2) == []
    assert core.handle(ChildStopped("a"), 3) == [
        Reply(1, "ok"),
        Reply(2, "running"),
        Reply(3, "ok"),
    ]
    # b's exit counted as the stop asked for: no restart, spec kept.
    assert core.status_of("b") is ChildStatus.TERMINATED
    assert core.snapshot().restart_times == ()
