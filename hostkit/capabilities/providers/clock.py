"""The stock ``hostkit:host/clock`` provider."""

from __future__ import annotations

import time
from collections.abc import Callable

from .._context import CallContext
from .._hookspecs import hookimpl

__all__ = ["ClockProvider"]


class ClockProvider:
    """Serves ``clock_*`` hooks from the host's clocks.

    Args:
        wall_ns: Wall-clock source in nanoseconds since the Unix epoch.
        monotonic_ns: Monotonic source in nanoseconds.
        resolution_ns: Monotonic readings are rounded down to a multiple of
            this. Coarser time makes timing side channels harder to exploit
            from inside the sandbox; 1 means full resolution.
    """

    def __init__(
        self,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        resolution_ns: int = 1,
    ) -> None:
        if resolution_ns < 1:
            raise ValueError(f"resolution_ns must be >= 1, got {resolution_ns}")
        self._wall_ns = wall_ns
        self._monotonic_ns = monotonic_ns
        self.resolution_ns = resolution_ns

    @hookimpl
    def clock_now_ms(self, ctx: CallContext) -> int:
        return max(0, self._wall_ns() // 1_000_000)

    @hookimpl
    def clock_monotonic_ns(self, ctx: CallContext) -> int:
        now = self._monotonic_ns()
        return now - now % self.resolution_ns
