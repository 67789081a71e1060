"""Compatibility: `Pid` and `ExitReason` live in the pure ``hostkit._pid``."""

from .._pid import HOST_PID as HOST_PID
from .._pid import KILLED as KILLED
from .._pid import NORMAL as NORMAL
from .._pid import SHUTDOWN as SHUTDOWN
from .._pid import ExitReason as ExitReason
from .._pid import Pid as Pid

__all__ = ["HOST_PID", "KILLED", "NORMAL", "SHUTDOWN", "ExitReason", "Pid"]
