"""The host runtime: engine, component cache, actors, mailboxes, schedulers."""

from .._pid import HOST_PID as HOST_PID
from .._pid import ExitReason as ExitReason
from .._pid import Pid as Pid
from ._component_limits import ComponentLimits as ComponentLimits
from ._config import HostConfig as HostConfig
from ._host import Component as Component
from ._host import Host as Host
from ._host import Monitor as Monitor
from ._host import open_host as open_host
from ._timers import TimerRef as TimerRef
from ._wasm import CompileProgress as CompileProgress
from ._wasm import HostFunction as HostFunction

__all__ = [
    "HOST_PID",
    "CompileProgress",
    "Component",
    "ComponentLimits",
    "ExitReason",
    "Host",
    "HostConfig",
    "HostFunction",
    "Monitor",
    "Pid",
    "TimerRef",
    "open_host",
]
