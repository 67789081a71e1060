"""Federation's exceptions, all below :class:`hostkit.FederationError`.

::

    FederationError                 (hostkit._errors)
     +-- FederationConfigError      your configuration or input is invalid (names it)
     +-- ProtocolError              the peer sent bytes that break the protocol
     +-- AuthenticationFailed       the peer could not prove who it is, or is unknown
     +-- NodeUnreachable            no live, authenticated link to that node
     +-- SendBufferFull             the link's send buffer is at its limit (nowait send)
          +-- NoCredit              the remote actor has not drained this node's casts yet
"""

from __future__ import annotations

from .._errors import FederationError as FederationError


class FederationConfigError(FederationError, ValueError):
    """A federation setting, key file or argument is invalid: your input is at
    fault. The message names it and what to do."""


class ProtocolError(FederationError):
    """The peer sent something the protocol forbids (a malformed or oversized
    frame, a message before the handshake, a kind it did not negotiate). Only
    that link is closed."""


class AuthenticationFailed(FederationError):
    """The peer failed the handshake: wrong proof, unknown node name or key,
    wrong protocol version, or plain transport where TLS is required."""


class NodeUnreachable(FederationError):
    """There is no live, authenticated link to the node (never connected, down,
    or reconnecting). Nothing was sent."""

    def __init__(self, node: str, why: str = "not connected") -> None:
        super().__init__(f"node {node!r} is unreachable: {why}")
        self.node = node


class SendBufferFull(FederationError):
    """The link's send buffer holds ``limit`` bytes already; nothing was queued.

    Whose fault: this node sends faster than the link drains. Use the
    awaitable ``send`` (which waits for room), or shed load.
    """

    def __init__(self, node: str, limit: int) -> None:
        super().__init__(
            f"send buffer to node {node!r} is full ({limit} bytes); nothing was queued"
        )
        self.node = node
        self.limit = limit


class NoCredit(SendBufferFull):
    """The remote actor has not yet consumed the casts this node sent it: the
    peer's credit window for it (``credit-window``) is used up; nothing was
    queued.

    Whose fault: the receiving actor drains its mailbox slower than this
    node sends. Use the awaitable send (``Federation.send_wait``), which
    waits for the peer to grant credit, or shed load.
    """

    def __init__(self, node: str, target: int, window: int) -> None:
        FederationError.__init__(
            self,
            f"actor {target} on node {node!r} has not consumed the last {window} casts "
            "this node sent it (its credit window); nothing was queued: use send_wait",
        )
        self.node = node
        self.limit = window
        self.target = target
