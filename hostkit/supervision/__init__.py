"""Supervision trees with Erlang/OTP semantics.

Two layers live here:

* the **decision core** (``_spec``, ``_events``, ``_core``): pure,
  synchronous, no trio. It validates specs and decides, from events and the
  time, which children to start, stop or restart, how to answer admin
  requests and when the supervisor itself must exit;
* the **driver** (``_driver``, ``_admin``, ``_stopping``, ``_entry``, ``_starts``,
  ``_tree``):
  the Trio side that performs those actions on wasm actors, Trio tasks and
  nested supervisors, feeds their outcome back, serves OTP's child-admin
  calls and shows the running tree as data (``open_supervisor``,
  ``open_dynamic_supervisor``, ``run_supervisor``).

See ``docs/supervision.md``.
"""

from .._errors import ChildError as ChildError
from ._core import DynamicSupervisorCore as DynamicSupervisorCore
from ._core import SupervisorCore as SupervisorCore
from ._driver import Supervisor as Supervisor
from ._entry import open_dynamic_supervisor as open_dynamic_supervisor
from ._entry import open_supervisor as open_supervisor
from ._entry import run_supervisor as run_supervisor
from ._events import Action as Action
from ._events import AddChild as AddChild
from ._events import CancelStart as CancelStart
from ._events import ChildCounts as ChildCounts
from ._events import ChildExited as ChildExited
from ._events import ChildInfo as ChildInfo
from ._events import ChildStarted as ChildStarted
from ._events import ChildStartFailed as ChildStartFailed
from ._events import ChildStatus as ChildStatus
from ._events import ChildStopped as ChildStopped
from ._events import DeleteChild as DeleteChild
from ._events import Event as Event
from ._events import Exit as Exit
from ._events import ExitCause as ExitCause
from ._events import Outcome as Outcome
from ._events import Ready as Ready
from ._events import RemoveChild as RemoveChild
from ._events import Reply as Reply
from ._events import RestartChild as RestartChild
from ._events import StartAfter as StartAfter
from ._events import StartChild as StartChild
from ._events import StopChild as StopChild
from ._events import StopRequested as StopRequested
from ._events import SupervisorSnapshot as SupervisorSnapshot
from ._events import TerminateChild as TerminateChild
from ._events import TimerFired as TimerFired
from ._spec import BRUTAL_KILL as BRUTAL_KILL
from ._spec import INFINITY as INFINITY
from ._spec import AutoShutdown as AutoShutdown
from ._spec import Backoff as Backoff
from ._spec import ChildSpec as ChildSpec
from ._spec import Restart as Restart
from ._spec import Shutdown as Shutdown
from ._spec import Strategy as Strategy
from ._spec import SupervisorFlags as SupervisorFlags
from ._spec import check_child_specs as check_child_specs
from ._spec import check_dynamic_flags as check_dynamic_flags
from ._starts import ActorStart as ActorStart
from ._starts import SupervisorStart as SupervisorStart
from ._starts import TaskStart as TaskStart
from ._tree import ChildNode as ChildNode
from ._tree import SupervisorTree as SupervisorTree

__all__ = [
    # the admin API's error (defined in hostkit._errors)
    "ChildError",
    # _spec: configuration
    "BRUTAL_KILL",
    "INFINITY",
    "AutoShutdown",
    "Backoff",
    "ChildSpec",
    "Restart",
    "Shutdown",
    "Strategy",
    "SupervisorFlags",
    "check_child_specs",
    "check_dynamic_flags",
    # _core, _events: the pure decision core, its events, actions and snapshots
    "Action",
    "AddChild",
    "CancelStart",
    "ChildCounts",
    "ChildExited",
    "ChildInfo",
    "ChildStartFailed",
    "ChildStarted",
    "ChildStatus",
    "ChildStopped",
    "DeleteChild",
    "DynamicSupervisorCore",
    "Event",
    "Exit",
    "ExitCause",
    "Outcome",
    "Ready",
    "RemoveChild",
    "Reply",
    "RestartChild",
    "StartAfter",
    "StartChild",
    "StopChild",
    "StopRequested",
    "SupervisorCore",
    "SupervisorSnapshot",
    "TerminateChild",
    "TimerFired",
    # _starts, _driver, _entry, _tree: the Trio driver, what it starts, the tree as data
    "ActorStart",
    "ChildNode",
    "Supervisor",
    "SupervisorStart",
    "SupervisorTree",
    "TaskStart",
    "open_dynamic_supervisor",
    "open_supervisor",
    "run_supervisor",
]
