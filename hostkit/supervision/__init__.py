"""Supervision trees with Erlang/OTP semantics.

Two layers live here:

* the **decision core** (``_spec``, ``_core``): pure, synchronous, no trio. It
  validates specs and decides, from events and the time, which children to
  start, stop or restart and when the supervisor itself must exit;
* the **driver** (to come): the trio task that performs those actions on
  actors and feeds their outcome back. See ``docs/supervision.md``.
"""

from ._core import Action as Action
from ._core import AddChild as AddChild
from ._core import ChildExited as ChildExited
from ._core import ChildInfo as ChildInfo
from ._core import ChildStarted as ChildStarted
from ._core import ChildStartFailed as ChildStartFailed
from ._core import ChildStatus as ChildStatus
from ._core import ChildStopped as ChildStopped
from ._core import DynamicSupervisorCore as DynamicSupervisorCore
from ._core import Event as Event
from ._core import Exit as Exit
from ._core import ExitCause as ExitCause
from ._core import Ready as Ready
from ._core import RemoveChild as RemoveChild
from ._core import StartAfter as StartAfter
from ._core import StartChild as StartChild
from ._core import StopChild as StopChild
from ._core import StopRequested as StopRequested
from ._core import SupervisorCore as SupervisorCore
from ._core import SupervisorSnapshot as SupervisorSnapshot
from ._core import TimerFired as TimerFired
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

# The trio driver (e.g. ``open_supervisor``) is re-exported here once it exists:
# from ._driver import ... as ...

__all__ = [
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
    # _core: the pure decision core, its events, actions and snapshots
    "Action",
    "AddChild",
    "ChildExited",
    "ChildInfo",
    "ChildStartFailed",
    "ChildStarted",
    "ChildStatus",
    "ChildStopped",
    "DynamicSupervisorCore",
    "Event",
    "Exit",
    "ExitCause",
    "Ready",
    "RemoveChild",
    "StartAfter",
    "StartChild",
    "StopChild",
    "StopRequested",
    "SupervisorCore",
    "SupervisorSnapshot",
    "TimerFired",
]
