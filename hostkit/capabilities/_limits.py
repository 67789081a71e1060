"""Per-plugin, per-action rate limits (token buckets) and payload size caps.

Cedar decides *whether* a plugin may call a host function; these limits
decide *how often* and *how much*. The gate asks `CallLimits.check` before
(or after) the policy decision; a non-``None`` answer is the reason the call
is refused, for the guest's error and the audit record.

Settings resolve most specific first: (plugin, action), then (plugin, any
action), then (any plugin, action), then the defaults. Each (plugin, action)
pair has its own bucket, so one plugin hammering ``files#read`` neither slows
its other calls nor other plugins.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_PAYLOAD = 1 << 20
"""Largest payload a call may carry unless configured otherwise: 1 MiB."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``rate`` calls per second on average, ``burst`` at once.

    Args:
        rate: tokens added per second.
        burst: bucket capacity: how many calls may follow each other with
            no pause after a quiet period.

    Raises:
        ValueError: ``rate`` is not positive or ``burst`` is below 1.
    """

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"RateLimit rate must be > 0, got {self.rate!r}")
        if not self.burst >= 1:
            raise ValueError(f"RateLimit burst must be >= 1, got {self.burst!r}")


DEFAULT_RATE = RateLimit(rate=1000.0, burst=2000.0)
"""Calls per second per (plugin, action) unless configured otherwise."""

_Scope = tuple[str | None, str | None]


class _Entry:
    """Resolved settings and bucket state of one (plugin, action) pair."""

    __slots__ = ("burst", "cap", "last", "limit", "lock", "max_payload", "per_second", "tokens")

    def __init__(self, limit: RateLimit | None, max_payload: int | None, now: float) -> None:
        self.lock = threading.Lock()
        self.last = now
        self.tokens = 0.0
        self.configure(limit, max_payload)

    def configure(self, limit: RateLimit | None, max_payload: int | None) -> None:
        # Plain floats and an int cap, so `check` does no None tests or
        # attribute hops beyond these slots.
        if limit is not None:
            previous = getattr(self, "limit", None)
            self.tokens = limit.burst if previous is None else min(self.tokens, limit.burst)
        self.limit = limit
        self.per_second = limit.rate if limit is not None else 0.0
        self.burst = limit.burst if limit is not None else 0.0
        self.max_payload = max_payload
        self.cap = max_payload if max_payload is not None else sys.maxsize


class CallLimits:
    """Rate limits and payload caps for host calls. Thread-safe.

    Args:
        rate: the default rate limit, or ``None`` for no limit.
        max_payload: the default payload cap in bytes, or ``None`` for none.
        clock: monotonic seconds; inject a fake one in tests.

    Example::

        limits = CallLimits()
        limits.set_rate(RateLimit(10, 20), plugin="chatty", action="hostkit:host/log#write")
        limits.set_max_payload(16 << 20, action="hostkit:host/files#write")
        reason = limits.check("chatty", "hostkit:host/log#write", size=120)
        if reason is not None:
            ...  # deny the call with `reason`, and audit it
    """

    def __init__(
        self,
        *,
        rate: RateLimit | None = DEFAULT_RATE,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._rates: dict[_Scope, RateLimit | None] = {(None, None): rate}
        self._payloads: dict[_Scope, int | None] = {(None, None): _check_size(max_payload)}
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def set_rate(
        self, rate: RateLimit | None, *, plugin: str | None = None, action: str | None = None
    ) -> None:
        """Set the rate limit for a plugin, an action, both, or (neither) the
        default. ``None`` lifts the limit there. Existing buckets keep their
        tokens, capped at the new burst."""
        with self._lock:
            self._rates[(plugin, action)] = rate
            self._reresolve()

    def set_max_payload(
        self, size: int | None, *, plugin: str | None = None, action: str | None = None
    ) -> None:
        """Set the payload cap in bytes for a plugin, an action, both, or the
        default. ``None`` lifts the cap there."""
        with self._lock:
            self._payloads[(plugin, action)] = _check_size(size)
            self._reresolve()

    def check(
        self, plugin: str, action: str, size: int = 0, *, now: float | None = None
    ) -> str | None:
        """Account for one call and say whether it is within limits.

        A call over the payload cap takes no token.

        Args:
            plugin: the calling plugin's name.
            action: the action id, e.g. ``"hostkit:host/files#write"``.
            size: the payload size in bytes (0 when the call carries none).
            now: the time, instead of asking the clock.

        Returns:
            ``None`` when the call may proceed, else why not (one sentence
            naming the plugin, the action and the limit).
        """
        entry = self._entries.get((plugin, action))
        if entry is None:
            entry = self._new_entry(plugin, action, self._clock() if now is None else now)
        if size > entry.cap:
            return (
                f"payload of {size} bytes from plugin {plugin!r} exceeds "
                f"the {entry.cap}-byte cap on {action}"
            )
        if entry.limit is None:
            return None
        if now is None:
            now = self._clock()
        with entry.lock:
            elapsed = now - entry.last
            if elapsed > 0:
                entry.last = now
                tokens = entry.tokens + elapsed * entry.per_second
                entry.tokens = tokens = tokens if tokens < entry.burst else entry.burst
            else:
                tokens = entry.tokens
            if tokens >= 1:
                entry.tokens = tokens - 1
                return None
        return (
            f"plugin {plugin!r} exceeded the rate limit on {action}: "
            f"{entry.per_second:g} calls/s, burst {entry.burst:g}"
        )

    def forget(self, plugin: str) -> None:
        """Drop the buckets of ``plugin`` (e.g. after it was unloaded)."""
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if k[0] != plugin}

    def _new_entry(self, plugin: str, action: str, now: float) -> _Entry:
        with self._lock:
            entry = self._entries.get((plugin, action))
            if entry is None:
                entry = _Entry(*self._resolve(plugin, action), now=now)
                self._entries[(plugin, action)] = entry
            return entry

    def _resolve(self, plugin: str, action: str) -> tuple[RateLimit | None, int | None]:
        scopes = ((plugin, action), (plugin, None), (None, action), (None, None))
        rate = next(self._rates[s] for s in scopes if s in self._rates)
        size = next(self._payloads[s] for s in scopes if s in self._payloads)
        return rate, size

    def _reresolve(self) -> None:
        for (plugin, action), entry in self._entries.items():
            with entry.lock:
                entry.configure(*self._resolve(plugin, action))


def _check_size(size: int | None) -> int | None:
    if size is not None and size < 0:
        raise ValueError(f"payload cap must be >= 0 bytes, got {size}")
    return size


# ------------------------------------------------------------ denial storms


@dataclass(frozen=True, slots=True)
class DenialLimits:
    """How the gate bounds a storm of denials.

    Args:
        audit: Denial records written per (plugin, action): past this rate,
            denials are counted instead, and a ``denials-suppressed`` record
            carrying the count is written at most once per
            ``summary_interval`` while they continue (and before the next
            denial record of that pair). The log stays complete in count and
            bounded in size.
        summary_interval: Least seconds between two summaries of one pair.
        actor: Denials one actor may take, host-function calls and the
            messaging path (sends, calls, spawns, links, monitors, names,
            ``process.log``) together: past this rate a denied host call ends
            the actor with reason ``denied`` instead of returning
            ``error.denied``, and a denied signal ends it with ``denied``
            after its activation. ``None``: never.
    """

    audit: RateLimit = RateLimit(rate=10.0, burst=100.0)
    summary_interval: float = 1.0
    actor: RateLimit | None = RateLimit(rate=20.0, burst=200.0)


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.last = now

    def take(self, limit: RateLimit, now: float) -> bool:
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(limit.burst, self.tokens + elapsed * limit.rate)
            self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Pending:
    __slots__ = ("count", "reported")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.reported = now


class DenialStorms:
    """Per (plugin, action) audit buckets and per-actor denial budgets.
    Thread-safe; the gate's state, not public API."""

    _MAX_KEYS = 65536  # actor keys are dropped on exit; this bounds leaks

    def __init__(self, limits: DenialLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._audit: dict[tuple[str, str], _Bucket] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._actors: dict[str, _Bucket] = {}

    def admit(self, plugin: str, action: str) -> tuple[bool, int]:
        """Account one denial: ``(write its record?, suppressed count to
        report first)``. A nonzero count is taken: the caller must write it."""
        now = self._clock()
        key = (plugin, action)
        with self._lock:
            bucket = self._audit.get(key)
            if bucket is None:
                if len(self._audit) >= self._MAX_KEYS:
                    self._audit.clear()
                bucket = self._audit[key] = _Bucket(self.limits.audit.burst, now)
            if bucket.take(self.limits.audit, now):
                pending = self._pending.pop(key, None)
                return True, 0 if pending is None else pending.count
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(now)
            pending.count += 1
            if now - pending.reported >= self.limits.summary_interval:
                count, pending.count, pending.reported = pending.count, 0, now
                return False, count
            return False, 0

    def has_pending(self) -> bool:
        """True if some denials may be waiting for a summary (`due` would
        look); a lock-free hint for the per-call path."""
        return bool(self._pending)

    def due(self, *, everything: bool = False) -> list[tuple[str, str, int]]:
        """Suppressed counts whose summary is due (all of them with
        ``everything``), taken: the caller must write them."""
        if not self._pending:
            return []
        now = self._clock()
        out: list[tuple[str, str, int]] = []
        with self._lock:
            for key, pending in list(self._pending.items()):
                if pending.count and (
                    everything or now - pending.reported >= self.limits.summary_interval
                ):
                    out.append((key[0], key[1], pending.count))
                    pending.count, pending.reported = 0, now
        return out

    def actor_exhausted(self, actor: str) -> bool:
        """Account one denial to ``actor``; True once its budget is spent."""
        limit = self.limits.actor
        if limit is None:
            return False
        now = self._clock()
        with self._lock:
            bucket = self._actors.get(actor)
            if bucket is None:
                if len(self._actors) >= self._MAX_KEYS:
                    self._actors.clear()
                bucket = self._actors[actor] = _Bucket(limit.burst, now)
            return not bucket.take(limit, now)

    def forget_actor(self, actor: str) -> None:
        """Drop ``actor``'s budget (it exited)."""
        self._actors.pop(actor, None)
