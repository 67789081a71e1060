"""The in-memory transport, with fault injection, for tests (yours and ours).

A :class:`MemoryNetwork` connects nodes in one process by address (any
string). Every connection gets a :class:`Wire` whose faults a test sets:
``delay`` (seconds added to each chunk, order kept), ``partition()`` (every
chunk silently dropped in both directions, as when packets vanish: only the
heartbeat notices), ``heal()``, and ``cut()`` (both ends see the
connection fail at once, as when a socket is reset).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from ._errors import NodeUnreachable
from ._link import Channel

_CHUNKS = 64  # chunks in flight per direction before the sender waits


class Wire:
    """The faults of one in-memory connection (both directions)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.delay = 0.0
        self.dropping = False
        self.is_cut = False
        self.dropped_chunks = 0
        self._closers: list[Callable[[], None]] = []

    def partition(self) -> None:
        """Drop every chunk from now on, silently, in both directions."""
        self.dropping = True

    def heal(self) -> None:
        """Stop dropping chunks (what was dropped stays lost)."""
        self.dropping = False

    def cut(self) -> None:
        """Fail the connection now: both ends see EOF or a broken channel."""
        self.is_cut = True
        for close in self._closers:
            close()


class _MemoryChannel:
    secure = True  # nothing leaves the process
    binding = b""  # not TLS: nothing to bind

    def __init__(
        self,
        wire: Wire,
        send: trio.MemorySendChannel[tuple[float, bytes]],
        receive: trio.MemoryReceiveChannel[tuple[float, bytes]],
        remote: str,
    ) -> None:
        self._wire = wire
        self._send = send
        self._receive = receive
        self.remote = remote
        wire._closers.append(send.close)

    async def send_bytes(self, data: bytes) -> None:
        if self._wire.is_cut:
            raise trio.BrokenResourceError("memory wire was cut")
        if self._wire.dropping:
            self._wire.dropped_chunks += 1
            await trio.lowlevel.checkpoint()
            return
        await self._send.send((trio.current_time() + self._wire.delay, bytes(data)))

    async def receive_bytes(self) -> bytes:
        try:
            at, data = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return b""
        if at > trio.current_time():
            await trio.sleep_until(at)
        return data

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def memory_channel_pair(address: str = "memory") -> tuple[_MemoryChannel, _MemoryChannel, Wire]:
    """Two connected channel ends and their shared :class:`Wire`."""
    wire = Wire(address)
    a_to_b_send, a_to_b_recv = trio.open_memory_channel[tuple[float, bytes]](_CHUNKS)
    b_to_a_send, b_to_a_recv = trio.open_memory_channel[tuple[float, bytes]](_CHUNKS)
    return (
        _MemoryChannel(wire, a_to_b_send, b_to_a_recv, address),
        _MemoryChannel(wire, b_to_a_send, a_to_b_recv, "dialler"),
        wire,
    )


class MemoryNetwork:
    """In-process transport: nodes listen on and dial string addresses.

    ``wires`` lists every connection's :class:`Wire`, newest last, so a test
    can inject faults; ``refuse(address)`` makes dialling it fail.
    """

    def __init__(self) -> None:
        self._listeners: dict[str, trio.MemorySendChannel[_MemoryChannel]] = {}
        self.wires: list[Wire] = []
        self.refused: set[str] = set()

    def wires_to(self, address: str) -> list[Wire]:
        """Every wire dialled to ``address``."""
        return [w for w in self.wires if w.address == address]

    @asynccontextmanager
    async def open_channel(self, address: str) -> AsyncIterator[_MemoryChannel]:
        """Dial ``address``.

        Raises:
            NodeUnreachable: nobody listens there (or the test refused it).
        """
        listener = self._listeners.get(address)
        if listener is None or address in self.refused:
            raise NodeUnreachable(address, "no listener at this memory address")
        ours, theirs, wire = memory_channel_pair(address)
        self.wires.append(wire)
        try:
            await listener.send(theirs)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise NodeUnreachable(address, "listener went away") from None
        try:
            yield ours
        finally:
            await ours.aclose()

    async def serve(
        self,
        address: str,
        on_channel: Callable[[Channel], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections on ``address`` until cancelled, one task each."""
        send, receive = trio.open_memory_channel[_MemoryChannel](math.inf)
        self._listeners[address] = send
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(address)
                async for channel in receive:
                    nursery.start_soon(on_channel, channel)
        finally:
            del self._listeners[address]
