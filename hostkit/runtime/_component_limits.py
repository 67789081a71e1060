"""Per-component limits: a component may be held to less than the host's.

`ComponentLimits` is given to :meth:`hostkit.Host.load`; the load checks it
against the host's :class:`~hostkit.HostConfig` (every value at most the
host's, never more) and stores the resolved figures on the compiled
component, where the scheduler reads them at every spawn and activation of
that component's actors, wherever they are spawned from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeVar

if TYPE_CHECKING:
    from ._config import HostConfig
    from ._wasm import Limits

_N = TypeVar("_N", int, float)


class EffectiveLimits(NamedTuple):
    """What one component's actors run with (resolved against the host)."""

    fuel: int
    activation_timeout: float
    store: Limits


@dataclass(frozen=True)
class ComponentLimits:
    """Limits for one component, each at most the host's (`HostConfig`).

    A field left ``None`` keeps the host's value. Pass to
    :meth:`hostkit.Host.load` (or ``limits = {...}`` in a ``[[components]]``
    entry of ``host.toml``)::

        host.load("mod.wasm", limits=ComponentLimits(fuel_per_activation=10_000_000))

    Attributes:
        fuel_per_activation: fuel per guest call (needs the host to meter
            fuel: ``HostConfig.fuel_per_activation`` set).
        activation_timeout: wall-clock seconds one guest call may run.
        max_memory_bytes: total linear memory of one instance.

    Raises:
        ValueError: a value is not positive.
    """

    fuel_per_activation: int | None = None
    activation_timeout: float | None = None
    max_memory_bytes: int | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            kind = float if f.name == "activation_timeout" else int
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"ComponentLimits.{f.name} must be a number, got {value!r}")
            if kind is int and not isinstance(value, int):
                raise ValueError(f"ComponentLimits.{f.name} must be an integer, got {value!r}")
            if not value > 0:
                raise ValueError(f"ComponentLimits.{f.name} must be positive, got {value!r}")

    def resolve(self, config: HostConfig, store: Limits) -> EffectiveLimits:
        """The figures an actor of this component runs with under ``config``.

        Args:
            config: the host's configuration.
            store: the host's Store limits (``config.limits()``).

        Raises:
            ValueError: a value exceeds the host's (names both), or fuel is
                asked of a host that does not meter it.
        """
        fuel = config.fuel_per_activation
        if self.fuel_per_activation is not None:
            if fuel is None:
                raise ValueError(
                    "fuel_per_activation: the host does not meter fuel "
                    "(HostConfig.fuel_per_activation is None); set it on the host first"
                )
            fuel = self._lower("fuel_per_activation", self.fuel_per_activation, fuel)
        timeout = config.activation_timeout
        if self.activation_timeout is not None:
            timeout = self._lower("activation_timeout", self.activation_timeout, timeout)
        if self.max_memory_bytes is not None:
            memory = self._lower("max_memory_bytes", self.max_memory_bytes, store.memory_bytes)
            store = dataclasses.replace(store, memory_bytes=memory)
        return EffectiveLimits(fuel or 0, timeout, store)

    @staticmethod
    def _lower(name: str, value: _N, host: _N) -> _N:
        if value > host:
            raise ValueError(
                f"{name} {value} exceeds the host's {host}: a component's limits may "
                f"only be lower than the host's (raise HostConfig.{name} first)"
            )
        return value
