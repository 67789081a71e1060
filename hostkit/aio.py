"""placeholder"""
from ._aio import AsyncioHost as AsyncioHost
from ._aio import AsyncioMonitor as AsyncioMonitor
from ._aio import AsyncioSupervisor as AsyncioSupervisor
from ._aio import open_host as open_host

__all__ = ["AsyncioHost", "AsyncioMonitor", "AsyncioSupervisor", "open_host"]
