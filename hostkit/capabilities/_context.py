"""The context every host-function hook receives first: who is calling."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CallContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallContext:
    """Who makes a host-function call, built by the host for each call.

    Providers namespace state and tag output with it. Everything here comes
    from the host, never from the guest: a provider may trust it.

    Attributes:
        plugin: The calling plugin's name (the Cedar principal ``Plugin::"<plugin>"``).
        pid: The calling actor's pid on this node.
        actor: The name the actor is registered under, or ``""``.
        data_dir: A directory private to the plugin on this host, if the host
            gives plugins one.
        grants: The Cedar actions the plugin's policies can allow, as computed
            when it was loaded. Informational: the gate decides each call.
        deadline: When the actor's current activation must end, in
            :func:`time.monotonic` seconds, or None. Providers that wait
            (network, disk) should not wait past it.
    """

    plugin: str
    pid: int
    actor: str = ""
    data_dir: Path | None = None
    grants: frozenset[str] = field(default_factory=frozenset)
    deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds left until :attr:`deadline` (never negative), or None."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())
