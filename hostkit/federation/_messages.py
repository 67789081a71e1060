"""What crosses the wire: every federation message as a msgspec tagged struct.

Each frame on a link is ``u32 big-endian length`` + one msgpack-encoded
message, an array whose first item is the message's tag. One
:data:`DECODER` decodes them all; an unknown tag, a wrong type, a string
over its limit or an int out of range is a decode error (and so a
:class:`ProtocolError` that ends only that link).

Schema evolution (msgspec's rules): new fields go at the end with a
default; fields are never reordered or removed; a new message kind is only
sent once a capability flag that announces it was agreed in the handshake,
since an older peer fails to decode an unknown tag.

Pids on the wire are bare actor ids (u64): a link is bound to one boot of
each node, so the node and creation are implied by the link.
"""

from __future__ import annotations

from typing import Annotated, Final, TypeAlias, TypeGuard

import msgspec

PROTOCOL_VERSION: Final = 1

#: Capability flags this implementation understands. A message kind listed
#: in :data:`GATED` may only be sent after both sides announced its flag.
FLAG_SPAWN: Final = "spawn"
FLAG_PG: Final = "pg"
#: Credit-based flow control for casts (:class:`Credit`). A side that offers
#: it also lists ``credit-window:<N>``: how many casts per target actor it
#: accepts before it has granted more (not intersected: each side's own).
FLAG_CREDIT: Final = "credit"
CREDIT_WINDOW_PREFIX: Final = "credit-window:"
#: Offered only by a side whose channel is TLS: the transcript then includes
#: the TLS channel binding (``_auth.transcript_hash``).
FLAG_TLS_BINDING: Final = "tls-binding"
KNOWN_FLAGS: Final = frozenset({FLAG_SPAWN, FLAG_PG, FLAG_CREDIT})

U64 = Annotated[int, msgspec.Meta(ge=0)]  # msgpack ints stop at 2**64 - 1
U32 = Annotated[int, msgspec.Meta(ge=0, lt=1 << 32)]
NodeName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
ShortText = Annotated[str, msgspec.Meta(max_length=255)]
Detail = Annotated[str, msgspec.Meta(max_length=4096)]
Nonce = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
ProofBytes = Annotated[bytes, msgspec.Meta(max_length=128)]
Flags = Annotated[list[ShortText], msgspec.Meta(max_length=64)]
Payload: TypeAlias = bytes  # the router carries payloads as bytes (UTF-8 from guests)
PidList = Annotated[list[U64], msgspec.Meta(max_length=4096)]


class _Msg(msgspec.Struct, array_like=True, tag_field="t", forbid_unknown_fields=True):
    pass


# ----------------------------------------------------------------- handshake


class Hello(_Msg, tag="hello"):
    """First message of each side: who I am and what I can do."""

    min_version: U32
    max_version: U32
    name: NodeName
    creation: U32
    flags: Flags
    nonce: Nonce
    auth: ShortText  # "secret" or "ed25519"


class Proof(_Msg, tag="proof"):
    """HMAC or signature over the handshake transcript, with this side's role label."""

    proof: ProofBytes


class Welcome(_Msg, tag="welcome"):
    """The acceptor verified the initiator and accepted it: the link is up."""


class Refuse(_Msg, tag="refuse"):
    """The sender will not talk to you; ``reason`` says why. It closes next."""

    reason: Detail


# ----------------------------------------------------------------- link level


class Tick(_Msg, tag="tick"):
    """Heartbeat, sent when the link was otherwise idle for a tick interval."""


class Frag(_Msg, tag="frag"):
    """A piece of a large message; ``more`` is False on the last piece."""

    data: bytes
    more: bool


class Credit(_Msg, tag="credit"):
    """Flow control (flag ``credit``): the sender of this message consumed
    ``grant`` more of the receiver's casts (:class:`Send`) to its actor
    ``target``, so the receiver may send that many more."""

    target: U64
    grant: Annotated[int, msgspec.Meta(ge=1, lt=1 << 32)]


class Bye(_Msg, tag="bye"):
    """Orderly close: the sender is going away (``reason`` is informational)."""

    reason: Detail = ""


# -------------------------------------------------------------------- actors


class Send(_Msg, tag="send"):
    """A cast from ``sender`` (on the sending node) to actor ``to`` (here)."""

    to: U64
    sender: U64
    payload: Payload
    tag_: U64 = 0  # echoed in Undeliverable, never shown to the target


class SendNamed(_Msg, tag="send-named"):
    """A cast to the actor registered as ``name`` on the receiving node."""

    name: ShortText
    sender: U64
    payload: Payload
    tag_: U64 = 0


class Call(_Msg, tag="call"):
    """A request expecting a :class:`Reply` carrying ``ref``."""

    to: U64
    sender: U64
    ref: U64
    payload: Payload
    timeout_ms: U32


class Reply(_Msg, tag="reply"):
    """The answer to the :class:`Call` ``ref`` that ``to`` made."""

    to: U64
    sender: U64
    ref: U64
    payload: Payload


class Undeliverable(_Msg, tag="undeliverable"):
    """A Send/Call from ``sender`` to ``target`` was not delivered.

    ``reason``: ``noproc``, ``mailbox-full``, ``too-large``, ``denied``, ``stale``.
    """

    sender: U64
    target: U64
    tag_: U64
    reason: ShortText


class Link(_Msg, tag="link"):
    """Link ``sender`` (there) with ``target`` (here)."""

    sender: U64
    target: U64


class Unlink(_Msg, tag="unlink"):
    sender: U64
    target: U64


class Exit(_Msg, tag="exit"):
    """Exit signal from linked ``sender`` (there) to ``target`` (here)."""

    sender: U64
    target: U64
    reason: ShortText
    detail: Detail = ""


class Monitor(_Msg, tag="monitor"):
    """``watcher`` (there) monitors ``target`` (here) under ``ref``."""

    watcher: U64
    target: U64
    ref: U64


class Demonitor(_Msg, tag="demonitor"):
    watcher: U64
    target: U64
    ref: U64


class Down(_Msg, tag="down"):
    """The monitored ``target`` (on the sending node) ended: DOWN for ``watcher``."""

    target: U64
    watcher: U64
    ref: U64
    reason: ShortText
    detail: Detail = ""


class Whereis(_Msg, tag="whereis"):
    req: U64
    name: ShortText


class WhereisReply(_Msg, tag="whereis-reply"):
    req: U64
    pid: U64  # 0: no such name (or not allowed to know)


class Spawn(_Msg, tag="spawn"):
    """Start component ``component`` whose sha256 is ``digest``; no code is shipped.

    ``link``/``monitor``: set up with ``sender`` atomically, before the new
    actor runs (``monitor_ref`` is the watcher's ref).
    """

    req: U64
    sender: U64
    component: ShortText
    digest: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    args: Payload
    link: bool = False
    monitor_ref: U64 = 0


class Spawned(_Msg, tag="spawned"):
    """The result of :class:`Spawn` ``req``: a pid, or ``error`` (pid 0)."""

    req: U64
    pid: U64
    error: Detail = ""


# ----------------------------------------------------------- process groups


class PgSync(_Msg, tag="pg-sync"):
    """Every local group membership of the sender; sent once when the link is up."""

    groups: Annotated[dict[ShortText, PidList], msgspec.Meta(max_length=10_000)]


class PgJoin(_Msg, tag="pg-join"):
    group: ShortText
    pids: PidList


class PgLeave(_Msg, tag="pg-leave"):
    group: ShortText
    pids: PidList


class PgPublish(_Msg, tag="pg-publish"):
    """Deliver ``payload`` from ``sender`` to every member of ``group`` on the receiver."""

    group: ShortText
    sender: U64
    payload: Payload


HandshakeMessage: TypeAlias = Hello | Proof | Welcome | Refuse
ControlMessage: TypeAlias = Tick | Frag | Bye | Credit
ActorMessage: TypeAlias = (
    Send
    | SendNamed
    | Call
    | Reply
    | Undeliverable
    | Link
    | Unlink
    | Exit
    | Monitor
    | Demonitor
    | Down
    | Whereis
    | WhereisReply
    | Spawn
    | Spawned
    | PgSync
    | PgJoin
    | PgLeave
    | PgPublish
)
Message: TypeAlias = HandshakeMessage | ControlMessage | ActorMessage

#: Message kinds that need a flag agreed in the handshake.
GATED: Final[dict[type[msgspec.Struct], str]] = {
    Spawn: FLAG_SPAWN,
    Spawned: FLAG_SPAWN,
    PgSync: FLAG_PG,
    PgJoin: FLAG_PG,
    PgLeave: FLAG_PG,
    PgPublish: FLAG_PG,
}

ACTOR_MESSAGES: Final[tuple[type[msgspec.Struct], ...]] = ActorMessage.__args__


def is_actor_message(message: object) -> TypeGuard[ActorMessage]:
    """True for the messages a link carries once established (not control)."""
    return isinstance(message, ACTOR_MESSAGES)


DECODER: Final = msgspec.msgpack.Decoder(Message)
ENCODER: Final = msgspec.msgpack.Encoder()
