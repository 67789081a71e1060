"""Starting supervisors: ``open_supervisor``, ``open_dynamic_supervisor``, ``run_supervisor``.

They build the decision core from the flags and child specs (checking both
before anything starts) and run it with the driver in :mod:`._driver`, which
hands back a :class:`~._driver.Supervisor`.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import NoReturn

import trio

from .._errors import SupervisorSpecError
from ..runtime._host import Host
from ._core import DynamicSupervisorCore, SupervisorCore
from ._driver import Supervisor, next_name
from ._spec import ChildSpec, SupervisorFlags
from ._starts import check_children


def _new(
    host: Host | None,
    flags: SupervisorFlags,
    children: Iterable[ChildSpec],
    name: str | None,
    rng: random.Random | None,
    dynamic: bool,
) -> Supervisor:
    if not isinstance(flags, SupervisorFlags):
        raise SupervisorSpecError(f"flags: expected SupervisorFlags, got {flags!r}")
    rng = rng if rng is not None else random.Random()
    core: SupervisorCore | DynamicSupervisorCore
    if dynamic:
        if tuple(children):
            raise SupervisorSpecError(
                "children: a dynamic supervisor starts empty; add children with start_child()"
            )
        core = DynamicSupervisorCore(flags, rng=rng)
    else:
        specs = check_children(children, flags, host, deep=True)
        core = SupervisorCore(flags, specs, rng=rng)
    return Supervisor(host, core, name or next_name(), rng)


def _reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` out of an ``except`` block without chaining the group to it."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


@asynccontextmanager
async def _open(sup: Supervisor) -> AsyncIterator[Supervisor]:
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(sup._serve, nursery.cancel_scope)
            try:
                yield sup
            finally:
                # An orderly stop, unless the block is being cancelled from
                # outside: then the children are killed (see _run_actor).
                if trio.current_effective_deadline() != -math.inf:
                    sup._request_stop()
                    await sup._done.wait()
    except BaseExceptionGroup as group:  # the body's error, or the failed start
        if len(group.exceptions) == 1:
            _reraise(group.exceptions[0])
        raise
    sup._raise_if_gave_up()


def open_supervisor(
    host: Host | None,
    flags: SupervisorFlags,
    children: Iterable[ChildSpec] = (),
    *,
    name: str | None = None,
    rng: random.Random | None = None,
) -> AbstractAsyncContextManager[Supervisor]:
    """Run a supervisor for the duration of an ``async with`` block.

    The children start in order before the block is entered. Leaving the
    block stops them in reverse order, each within its ``shutdown``. If the
    supervisor gives up (restart intensity exceeded) the block is cancelled
    and :class:`~hostkit.RestartIntensityExceeded` is raised from it.
    Cancelling the block from outside kills the children at once.

    Args:
        host: The host that runs actor children; None for a supervisor of
            Trio tasks (and supervisors of them) only.
        flags: Strategy, intensity, period, auto_shutdown, backoff.
        children: Child specs whose ``start`` is an :class:`ActorStart`,
            :class:`TaskStart` or :class:`SupervisorStart`, in start order.
        name: For logs, errors and :meth:`Supervisor.tree`.
        rng: Source of backoff jitter, for reproducible runs.

    Raises:
        SupervisorSpecError: A spec is invalid (raised by this call itself).
        SpawnError: A child failed to start; those already started are stopped.
        RestartIntensityExceeded: The supervisor gave up.
    """
    return _open(_new(host, flags, children, name, rng, dynamic=False))


def open_dynamic_supervisor(
    host: Host | None,
    flags: SupervisorFlags,
    *,
    name: str | None = None,
    rng: random.Random | None = None,
) -> AbstractAsyncContextManager[Supervisor]:
    """Like :func:`open_supervisor`, for a dynamic supervisor (OTP's
    ``simple_one_for_one``): it starts empty, children come and go with
    :meth:`Supervisor.start_child` / :meth:`Supervisor.terminate_child` (by
    id or pid), and
    on stop they are all stopped at once.

    Raises:
        SupervisorSpecError: ``flags.strategy`` is not one_for_one, or
            ``flags.auto_shutdown`` is set (a bad combination, as in OTP).
        RestartIntensityExceeded: The supervisor gave up.
    """
    return _open(_new(host, flags, (), name, rng, dynamic=True))


async def run_supervisor(
    host: Host | None,
    flags: SupervisorFlags,
    children: Iterable[ChildSpec] = (),
    *,
    name: str | None = None,
    dynamic: bool = False,
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a supervisor as a task: ``sup = await nursery.start(run_supervisor, ...)``.

    ``nursery.start`` returns the :class:`Supervisor` once its children
    started. The task returns when the supervisor is stopped (``await
    sup.stop()``) or shuts itself down (auto_shutdown). Arguments as for
    :func:`open_supervisor`; ``dynamic=True`` makes a dynamic supervisor.

    Raises:
        SupervisorSpecError: A spec is invalid.
        SpawnError: A child failed to start (raised by ``nursery.start``).
        RestartIntensityExceeded: The supervisor gave up.
    """
    sup = _new(host, flags, children, name, rng, dynamic)
    await sup._serve(None, task_status)
