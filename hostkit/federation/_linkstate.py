"""The protocol core's vocabulary: link limits, states, close reasons and
the events :class:`~hostkit.federation.Connection` emits (``_protocol.py``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeAlias

from ._errors import FederationConfigError
from ._identity import NodeId
from ._messages import ActorMessage

#: Largest credit window a side may announce (casts per target actor).
MAX_CREDIT_WINDOW: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Limits and timings of a link; both ends should use the same values.

    Attributes:
        heartbeat_timeout: ``T``: a peer silent this long is down (detected
            within T..1.25T); also the handshake deadline.
        fragment_size: actor messages bigger than this are cut into pieces.
        max_frame: largest frame accepted from the peer (protocol error above).
        max_message: largest reassembled message accepted from the peer.
        send_buffer: bytes of queued actor messages above which senders wait
            (or get :class:`SendBufferFull`).
        credit_window: casts (``Send``) per local target actor this node
            accepts from one peer before it granted more credit (with the
            ``credit`` flag); keep ``credit_window`` times the number of
            peers at most the host's ``mailbox_capacity`` for a guarantee.
        credit_poll: seconds between looks at the mailboxes of actors that
            still owe credit to a peer (the driver also looks after every read).
        require_channel_binding: refuse a peer that does not bind the
            handshake to a TLS channel this side has (turn off only behind a
            TLS-terminating proxy, which cannot be told from a relay).
    """

    heartbeat_timeout: float = 15.0
    fragment_size: int = 16 * 1024
    max_frame: int = 64 * 1024
    max_message: int = 16 * 1024 * 1024
    send_buffer: int = 4 * 1024 * 1024
    credit_window: int = 1024
    credit_poll: float = 0.005
    require_channel_binding: bool = True

    def __post_init__(self) -> None:
        if not self.heartbeat_timeout > 0:
            raise FederationConfigError("heartbeat_timeout must be > 0 seconds")
        if not 256 <= self.fragment_size <= self.max_frame - 64:
            raise FederationConfigError("need 256 <= fragment_size <= max_frame - 64")
        if self.max_message < self.fragment_size or self.send_buffer < self.fragment_size:
            raise FederationConfigError("max_message and send_buffer must be >= fragment_size")
        if not 1 <= self.credit_window <= MAX_CREDIT_WINDOW:
            raise FederationConfigError(f"credit_window must be within 1..{MAX_CREDIT_WINDOW}")
        if not self.credit_poll > 0:
            raise FederationConfigError("credit_poll must be > 0 seconds")


class State(enum.Enum):
    AWAIT_HELLO = "await-hello"
    HELLO_SENT = "hello-sent"
    AWAIT_PROOF = "await-proof"
    VERIFYING = "verifying"
    AWAIT_WELCOME = "await-welcome"
    ESTABLISHED = "established"
    CLOSED = "closed"


class CloseReason(enum.Enum):
    """Why a link ended (the ``reason`` of :class:`LinkClosed`)."""

    LOCAL = "local"  # close() was called here
    PEER_CLOSED = "peer-closed"  # the peer said Bye
    REFUSED_BY_PEER = "refused-by-peer"  # the peer sent Refuse
    AUTH_FAILED = "auth-failed"  # the peer failed authentication here
    DENIED = "denied"  # authenticated, but refuse() was called (policy)
    PROTOCOL_ERROR = "protocol-error"  # the peer broke the protocol
    HEARTBEAT_TIMEOUT = "heartbeat-timeout"  # silent for T
    HANDSHAKE_TIMEOUT = "handshake-timeout"  # no handshake within T
    TRANSPORT = "transport"  # the transport failed or reached EOF


# -------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class PeerVerified:
    """The peer proved its identity. Call ``accept()`` or ``refuse(reason)``."""

    peer: NodeId
    flags: frozenset[str]
    version: int


@dataclass(frozen=True, slots=True)
class PeerUp:
    """The handshake is complete: actor messages may flow."""

    peer: NodeId
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Received:
    """The peer sent an actor message."""

    message: ActorMessage


@dataclass(frozen=True, slots=True)
class LinkClosed:
    """The link is over; ``peer`` is None if the peer never said who it is."""

    reason: CloseReason
    detail: str
    peer: NodeId | None
    was_up: bool


Event: TypeAlias = PeerVerified | PeerUp | Received | LinkClosed
