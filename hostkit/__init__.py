"""hostkit: run untrusted WebAssembly components as supervised, capability-gated
actors inside a Trio application.

Quick start::

    async with hostkit.open_host() as host:
        echo = host.load("echo.wasm")
        pid = await host.spawn(echo)
        print(await host.call(pid, "hello"))
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._errors import ActorExited as ActorExited
from ._errors import AuditError as AuditError
from ._errors import CallDeadlock as CallDeadlock
from ._errors import CallTimeout as CallTimeout
from ._errors import CapabilityDenied as CapabilityDenied
from ._errors import ComponentLoadError as ComponentLoadError
from ._errors import ConfigError as ConfigError
from ._errors import FederationError as FederationError
from ._errors import HostClosedError as HostClosedError
from ._errors import HostkitError as HostkitError
from ._errors import MailboxFull as MailboxFull
from ._errors import MessageTooLarge as MessageTooLarge
from ._errors import NoProc as NoProc
from ._errors import PolicyError as PolicyError
from ._errors import RestartIntensityExceeded as RestartIntensityExceeded
from ._errors import SpawnError as SpawnError
from ._errors import SupervisorSpecError as SupervisorSpecError
from ._errors import TooManyTimers as TooManyTimers
from ._errors import WrongThreadError as WrongThreadError
from ._pid import HOST_PID as HOST_PID
from ._pid import ExitReason as ExitReason
from ._pid import Pid as Pid

if _TYPE_CHECKING:
    from .runtime import CompileProgress as CompileProgress
    from .runtime import Component as Component
    from .runtime import Host as Host
    from .runtime import HostConfig as HostConfig
    from .runtime import HostFunction as HostFunction
    from .runtime import Monitor as Monitor
    from .runtime import TimerRef as TimerRef
    from .runtime import open_host as open_host

# The runtime (and with it wasmtime) loads on first use, so the pure modules
# (``hostkit._pid``, ``hostkit._frames``) import without wasmtime.
_RUNTIME_NAMES = frozenset(
    {
        "CompileProgress",
        "Component",
        "Host",
        "HostConfig",
        "HostFunction",
        "Monitor",
        "TimerRef",
        "open_host",
    }
)


def __getattr__(name: str) -> _Any:
    if name in _RUNTIME_NAMES:
        from . import runtime

        value = getattr(runtime, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hostkit' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "HOST_PID",
    "ActorExited",
    "AuditError",
    "CallDeadlock",
    "CallTimeout",
    "CapabilityDenied",
    "CompileProgress",
    "Component",
    "ComponentLoadError",
    "ConfigError",
    "ExitReason",
    "FederationError",
    "Host",
    "HostClosedError",
    "HostConfig",
    "HostFunction",
    "HostkitError",
    "MailboxFull",
    "MessageTooLarge",
    "Monitor",
    "NoProc",
    "Pid",
    "PolicyError",
    "RestartIntensityExceeded",
    "SpawnError",
    "SupervisorSpecError",
    "TimerRef",
    "TooManyTimers",
    "WrongThreadError",
    "open_host",
]
