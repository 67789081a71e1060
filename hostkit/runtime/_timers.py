"""Timers: ``send_after`` from host code and from guests, on one heap.

Theory of operation
-------------------
Every pending timer of the host is one entry in one binary heap ordered by
(due time, sequence number), owned by the Trio thread: host code sets and
cancels timers there directly, and a guest's outbox ``t``/``k`` frames reach
it as callbacks posted from the scheduler thread (one Trio wake-up per
activation, like every other result). Nothing else touches the heap, so it
needs no lock, and the times are Trio's clock (a test's autojump clock
drives timers like any ``trio.sleep``).

Cancelling is lazy: the entry is marked dead and dropped from its actor's
table, and the heap pops it later without firing it (when dead entries are
more than half the heap, it is rebuilt, so cancel churn cannot grow it).
One driver task sleeps until the earliest due time, or until a timer due
earlier is set, and fires what is due in (time, sequence) order: a host
timer as an ordinary cast from pid 0 (``c``), a guest timer as an ``i``
system frame carrying the guest's tag.

Bounds: at most ``max_timers_per_actor`` pending timers per target actor
(host and guest timers together), at most ``max_message_size`` bytes per
timer message, and their bytes (plus ``ENTRY_BYTES`` each for the entry
itself) count against ``host_mailbox_bytes`` with the mailboxes. An
actor's timers are dropped when it exits.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from typing import TYPE_CHECKING, Final

import trio

from .._errors import TooManyTimers
from .._frames import frame
from .._pid import Pid
from ._actors import EXITED
from ._router import FULL, TOO_LARGE, refusal

if TYPE_CHECKING:
    from ._actors import Actor
    from ._router import Router

log = logging.getLogger("hostkit.runtime")

# the answer in a `u` frame to a `t` frame past the actor's timer cap
TOO_MANY_TIMERS: Final = "too-many-timers"
# what one pending timer costs the host beyond its message (the heap entry,
# the table slot), counted against host_mailbox_bytes with the message
ENTRY_BYTES: Final = 160
_HOST, _GUEST = 0, 1
# entry fields: due, seq, alive, actor id, key, kind, payload
_DUE, _SEQ, _ALIVE, _AID, _KEY, _KIND, _DATA = range(7)


class TimerRef:
    """A timer set with :meth:`Host.send_after`; pass it to
    :meth:`Host.cancel_timer`. Opaque: do not construct it."""

    __slots__ = ("_key", "pid")

    def __init__(self, key: int, pid: Pid) -> None:
        self._key = key
        #: The actor the timer's message goes to.
        self.pid = pid

    def __repr__(self) -> str:
        return f"<TimerRef #{-self._key} to {self.pid}>"


class Timers:
    """The host's pending timers (see the module doc). Trio thread only."""

    def __init__(self, router: Router, max_per_actor: int) -> None:
        self.router = router
        self.max_per_actor = max_per_actor
        self.heap: list[list[object]] = []
        self.by_actor: dict[int, dict[int, list[object]]] = {}
        self.bytes = 0  # payload bytes of live timers
        self.dead = 0  # cancelled entries still in the heap
        self._seq = itertools.count()
        self._host_keys = itertools.count(1)  # host keys are negative, guest tags >= 0
        self._wake = trio.Event()
        self._sleeping_until = math.inf

    def __len__(self) -> int:
        return len(self.heap) - self.dead

    # -- setting and cancelling ----------------------------------------------
    def _room(self, aid: int, size: int, replacing: int | None = None) -> str | None:
        """None if a timer of ``size`` bytes fits for ``aid``, else why not."""
        router = self.router
        if size > router.max_size:
            return TOO_LARGE
        table = self.by_actor.get(aid)
        count = 0 if table is None else len(table) - (replacing is not None and replacing in table)
        if count >= self.max_per_actor:
            return TOO_MANY_TIMERS
        if self.bytes + router.host_bytes + size + ENTRY_BYTES > router.host_budget:
            return FULL
        return None

    def _add(self, due: float, aid: int, key: int, kind: int, data: bytes) -> None:
        entry: list[object] = [due, next(self._seq), True, aid, key, kind, data]
        heapq.heappush(self.heap, entry)
        self.by_actor.setdefault(aid, {})[key] = entry
        self.bytes += len(data) + ENTRY_BYTES
        if due < self._sleeping_until:
            self._wake.set()

    def _kill(self, entry: list[object]) -> None:
        entry[_ALIVE] = False
        self.bytes -= len(entry[_DATA]) + ENTRY_BYTES  # type: ignore[arg-type]
        self.dead += 1
        if self.dead > 1024 and self.dead * 2 > len(self.heap):
            self.heap = [e for e in self.heap if e[_ALIVE]]
            heapq.heapify(self.heap)
            self.dead = 0

    def host_timer(self, aid: int, payload: bytes, delay: float) -> int | str:
        """Set a host timer; its key (< 0), or why it is refused."""
        why = self._room(aid, len(payload))
        if why is not None:
            return why
        key = -next(self._host_keys)
        self._add(trio.current_time() + delay, aid, key, _HOST, payload)
        target = self.router.actors.get(aid)
        if target is None or target.state == EXITED:  # exited meanwhile
            self.drop_actor(aid)
        return key

    def send_after(self, pid: Pid | int, msg: str, delay: float) -> TimerRef:
        """``Host.send_after`` (see its docstring), on the Trio thread."""
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise TypeError(f"send_after delay must be a number of seconds, got {delay!r}")
        if not math.isfinite(delay) or delay < 0:
            raise ValueError(f"send_after delay must be finite and >= 0 seconds, got {delay!r}")
        router = self.router
        aid = router.local_id(pid)
        actor = None if aid is None else router.actors.get(aid)
        if actor is None or actor.state == EXITED:
            raise refusal("noproc", pid, router)
        result = self.host_timer(actor.id, msg.encode(), float(delay))
        if result == TOO_LARGE:
            raise refusal(TOO_LARGE, pid, router)
        if isinstance(result, str):
            raise TooManyTimers(
                f"{actor.pid} already has {len(self.by_actor.get(actor.id, ()))} pending "
                f"timers (max_timers_per_actor {self.max_per_actor}) or the host's "
                "host_mailbox_bytes is spent; no timer was set"
            )
        return TimerRef(result, actor.pid)

    def cancel_ref(self, ref: TimerRef) -> float | None:
        """``Host.cancel_timer``."""
        if not isinstance(ref, TimerRef):
            raise TypeError(f"cancel_timer takes a TimerRef from send_after, got {ref!r}")
        aid = self.router.local_id(ref.pid)
        return None if aid is None else self.cancel(aid, ref._key)

    def cancel(self, aid: int, key: int) -> float | None:
        """Cancel a pending timer: the seconds it had left, or None if it
        already fired, was cancelled or never existed."""
        table = self.by_actor.get(aid)
        entry = None if table is None else table.pop(key, None)
        if entry is None:
            return None
        if not table:
            del self.by_actor[aid]
        self._kill(entry)
        return max(0.0, entry[_DUE] - trio.current_time())  # type: ignore[operator]

    def guest_cancel(self, aid: int, tag: int) -> None:
        """An outbox ``k`` frame: cancel the actor's timer ``tag``, if pending."""
        self.cancel(aid, tag)

    def guest_timer(self, actor: Actor, tag: int, delay_ms: int, payload: bytes) -> None:
        """An outbox ``t`` frame, on the Trio thread: set (or reset) the
        timer ``tag``; a refusal comes back as a ``u`` frame."""
        if actor.reason is not None or actor.state == EXITED:
            return  # ending: its timers are being dropped
        why = self._room(actor.id, len(payload), replacing=tag)
        if why is not None:
            self.router.push(actor, frame(b"u", 0, tag, why.encode()), system=True)
            return
        self.cancel(actor.id, tag)  # same tag: the new timer replaces the old
        self._add(trio.current_time() + delay_ms / 1000, actor.id, tag, _GUEST, payload)
        if actor.state == EXITED:  # exited meanwhile, after its exit looked here
            self.drop_actor(actor.id)

    def drop_actor(self, aid: int) -> None:
        """An actor exited: its pending timers never fire."""
        table = self.by_actor.pop(aid, None)
        if table:
            for entry in table.values():
                self._kill(entry)

    # -- the driver -------------------------------------------------------------
    def fire_due(self, now: float) -> None:
        heap = self.heap
        router = self.router
        while heap and heap[0][_DUE] <= now:  # type: ignore[operator]
            entry = heapq.heappop(heap)
            if not entry[_ALIVE]:
                self.dead -= 1
                continue
            aid, key, data = entry[_AID], entry[_KEY], entry[_DATA]
            assert isinstance(aid, int) and isinstance(key, int) and isinstance(data, bytes)
            table = self.by_actor.get(aid)
            if table is not None:
                table.pop(key, None)
                if not table:
                    del self.by_actor[aid]
            self.bytes -= len(data) + ENTRY_BYTES
            target = router.actors.get(aid)
            if target is None:
                continue  # exited: its drop_actor is on its way
            if entry[_KIND] == _HOST:
                code = router.push(target, b"c%016x%016x%08x" % (0, 0, len(data)) + data)
                if code is not None:
                    log.warning("timer message to %s dropped: %s", target.pid, code)
            else:
                router.push(target, frame(b"i", 0, key, data), system=True)

    async def run(self) -> None:
        """Fire timers as they come due, until cancelled."""
        while True:
            try:
                self.fire_due(trio.current_time())
            except Exception:  # a system task must not raise: log, keep firing
                log.exception("timers: firing failed")
            heap = self.heap
            while heap and not heap[0][_ALIVE]:
                heapq.heappop(heap)
                self.dead -= 1
            due = heap[0][_DUE] if heap else math.inf
            assert isinstance(due, float)
            self._wake = trio.Event()
            self._sleeping_until = due
            with trio.move_on_at(due):
                await self._wake.wait()
            self._sleeping_until = -math.inf
