"""hostkit's stock host-function providers: ordinary pluggy plugins.

Register the ones a host should offer with its plugin manager; an application
may register its own in front of them (see ``docs/host-functions.md``).
"""

from .clock import ClockProvider as ClockProvider
from .files import FilesProvider as FilesProvider
from .http import HttpProvider as HttpProvider
from .kv import KvProvider as KvProvider
from .log import LogProvider as LogProvider
from .random import RandomProvider as RandomProvider

__all__ = [
    "ClockProvider",
    "FilesProvider",
    "HttpProvider",
    "KvProvider",
    "LogProvider",
    "RandomProvider",
]
