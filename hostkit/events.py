"""The host's event stream: what ``host.events`` publishes.

Subscribe with ``host.events.subscribe(fn)``; ``fn(event)`` runs on the
thread where the event happened (often a scheduler thread), so keep it quick
and thread-safe. Importable without wasmtime.
"""

from ._events import ActorExited as ActorExited
from ._events import ActorKilled as ActorKilled
from ._events import ActorRestarted as ActorRestarted
from ._events import ActorSpawned as ActorSpawned
from ._events import AuditSubscriber as AuditSubscriber
from ._events import EventBus as EventBus
from ._events import HostEvent as HostEvent
from ._events import LimitReached as LimitReached
from ._events import ProtocolViolation as ProtocolViolation
from ._events import SpawnRefused as SpawnRefused

__all__ = [
    "ActorExited",
    "ActorKilled",
    "ActorRestarted",
    "ActorSpawned",
    "AuditSubscriber",
    "EventBus",
    "HostEvent",
    "LimitReached",
    "ProtocolViolation",
    "SpawnRefused",
]
