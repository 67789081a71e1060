"""What a child spec's ``start`` can be: a wasm actor, a Trio task, a supervisor.

The decision core treats ``ChildSpec.start`` as opaque; the driver
(:mod:`._driver`) interprets these three kinds. They are checked when they are
built, and again against the host when a supervisor is given them, so a
supervisor never starts with a child it cannot start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from .._errors import SupervisorSpecError
from ._spec import ChildSpec, SupervisorFlags, check_child_specs, check_dynamic_flags

if TYPE_CHECKING:
    from ..runtime._host import Component, Host


@dataclass(frozen=True)
class ActorStart:
    """Start a wasm actor: ``host.spawn(component, init, name=name)``.

    Every restart is a fresh Store and instance, so the actor's state starts
    over; a registered ``name`` is registered again for the new pid.

    Args:
        component: A loaded component, or the name it was loaded under.
        init: The init argument passed to the guest.
        name: Register the actor under this name (freed when it exits).
        trap_exit: Make the actor trap exit signals once its init returned,
            so the supervisor's ``shutdown`` arrives as a message and the
            child's ``shutdown`` timeout applies before it is killed.

    Raises:
        SupervisorSpecError: A field has the wrong type; the message names it.
    """

    component: Component | str
    init: str = ""
    name: str | None = None
    trap_exit: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.component, str):
            if not self.component:
                raise SupervisorSpecError("start.component: must be a non-empty name")
        elif not hasattr(self.component, "digest"):
            raise SupervisorSpecError(
                "start.component: expected a Component (from host.load()) or its name, "
                f"got {self.component!r}"
            )
        if not isinstance(self.init, str):
            raise SupervisorSpecError(f"start.init: expected a str, got {self.init!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise SupervisorSpecError(f"start.name: expected a non-empty str, got {self.name!r}")
        if not isinstance(self.trap_exit, bool):
            raise SupervisorSpecError(f"start.trap_exit: expected a bool, got {self.trap_exit!r}")


@dataclass(frozen=True, init=False)
class TaskStart:
    """Start a Trio task: ``await async_fn(*args)`` in the supervisor's nursery.

    For host-side services of the embedding application. Returning is a
    ``normal`` exit, raising an exception is an ``error`` exit whose detail
    names the exception. To stop it, the supervisor cancels it; see
    ``docs/supervision.md`` for why a task that shields itself from
    cancellation cannot be killed.

    Args:
        async_fn: The async function to run.
        *args: Its positional arguments.
        wait_started: Call ``async_fn(*args, task_status=...)`` and count the
            child as started only once it calls ``task_status.started()``, as
            with ``nursery.start``. Otherwise it counts as started at once.

    Raises:
        SupervisorSpecError: ``async_fn`` is not callable.
    """

    async_fn: Callable[..., Awaitable[object]]
    args: tuple[object, ...]
    wait_started: bool

    def __init__(
        self,
        async_fn: Callable[..., Awaitable[object]],
        *args: object,
        wait_started: bool = False,
    ) -> None:
        if not callable(async_fn):
            raise SupervisorSpecError(
                f"start.async_fn: expected an async function, got {async_fn!r}"
            )
        object.__setattr__(self, "async_fn", async_fn)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "wait_started", bool(wait_started))


@dataclass(frozen=True, init=False)
class SupervisorStart:
    """Start a nested supervisor (its ``ChildSpec`` must have ``kind="supervisor"``).

    Args:
        flags: The nested supervisor's strategy, intensity, period, ...
        children: Its child specs, in start order.
        dynamic: Make it a dynamic supervisor (no initial children; add them
            with ``Supervisor.start_child`` on ``child_supervisor(id)``).

    Raises:
        SupervisorSpecError: The flags or children are invalid (as for a
            top-level supervisor), or ``dynamic`` is combined with children,
            a strategy other than one_for_one, or an ``auto_shutdown``.
    """

    flags: SupervisorFlags
    children: tuple[ChildSpec, ...]
    dynamic: bool

    def __init__(
        self,
        flags: SupervisorFlags,
        children: Iterable[ChildSpec] = (),
        *,
        dynamic: bool = False,
    ) -> None:
        if not isinstance(flags, SupervisorFlags):
            raise SupervisorSpecError(f"start.flags: expected SupervisorFlags, got {flags!r}")
        specs = check_children(children, flags)
        if dynamic and specs:
            raise SupervisorSpecError(
                "start.children: a dynamic supervisor starts empty; add children with start_child()"
            )
        if dynamic:
            check_dynamic_flags(flags, "start.flags.")
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "children", specs)
        object.__setattr__(self, "dynamic", bool(dynamic))


Start: TypeAlias = ActorStart | TaskStart | SupervisorStart
ChildKind: TypeAlias = Literal["actor", "task", "supervisor"]


def kind_of(start: object) -> ChildKind:
    if isinstance(start, ActorStart):
        return "actor"
    if isinstance(start, SupervisorStart):
        return "supervisor"
    return "task"


def check_children(
    children: Iterable[ChildSpec],
    flags: SupervisorFlags,
    host: Host | None = None,
    *,
    deep: bool = False,
) -> tuple[ChildSpec, ...]:
    """Check specs as a whole (ids, significance) and each one's ``start``."""
    specs = check_child_specs(children, flags.auto_shutdown)
    for spec in specs:
        check_start(spec, host, deep=deep)
    return specs


def check_start(spec: ChildSpec, host: Host | None, *, deep: bool = False) -> None:
    """Check that ``spec.start`` is something the driver can start.

    ``deep`` (the supervisor is about to run on ``host``): actors need a host,
    components given by name must be loaded there, and nested supervisors'
    children are checked the same way.
    """
    where = f"child {spec.id!r}: "
    start = spec.start
    if not isinstance(start, ActorStart | TaskStart | SupervisorStart):
        raise SupervisorSpecError(
            f"{where}start: expected ActorStart, TaskStart or SupervisorStart, got {start!r}"
        )
    if isinstance(start, SupervisorStart) != (spec.kind == "supervisor"):
        raise SupervisorSpecError(
            f"{where}kind: a SupervisorStart child must have kind='supervisor' and only it, "
            f"got kind={spec.kind!r} with {type(start).__name__}"
        )
    if isinstance(start, SupervisorStart) and deep:
        for child in start.children:
            check_start(child, host, deep=True)
    if not isinstance(start, ActorStart) or not deep:
        return
    if host is None:
        raise SupervisorSpecError(
            f"{where}start: an ActorStart needs a host; pass one to open_supervisor()"
        )
    if isinstance(start.component, str) and start.component not in host.components:
        raise SupervisorSpecError(
            f"{where}start.component: no component named {start.component!r} is loaded; "
            "load it with host.load() first"
        )
