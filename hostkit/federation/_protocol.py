"""The federation link protocol as a sans-IO state machine.

No sockets, no trio, no clock: bytes go in (:meth:`Connection.receive_data`),
events come out (:meth:`Connection.next_event`), messages go in
(:meth:`Connection.send` / :meth:`Connection.queue`), bytes come out
(:meth:`Connection.data_to_send`), and time is passed in
(:meth:`Connection.handle_timer`). Transports drive it (``_link.py``).
"""

# Theory of operation
# ===================
#
# A link joins one boot of one node to one boot of another, over any reliable,
# ordered byte or message stream. On it travel *frames*: a 4-byte big-endian
# length, then one msgpack message (``_messages.py``). A length over
# ``max_frame`` is a protocol error before a byte of the body is buffered.
#
# Handshake (4 messages; I = initiator, A = acceptor):
#
#     I -> A  Hello(versions, name, creation, flags, nonce_i, method)
#     A -> I  Hello(versions, name, creation, flags, nonce_a, method)
#     A -> I  Proof(prove(acceptor, H))        H = sha256(label, Hello_I, Hello_A)
#     I -> A  Proof(prove(initiator, H))       (after I's driver accepted A)
#     A -> I  Welcome                          (after A's driver accepted I)
#
# Each side, once it has verified the peer's proof, emits PeerVerified and
# waits in VERIFYING for its driver to call accept() (after a Cedar
# "connect" decision) or refuse(). The version is the highest both support;
# the flags are the intersection of both lists. Any failure sends Refuse
# (with a reason that reveals nothing secret) and closes; the local event
# says exactly what failed, for the audit log.
#
# Heartbeats (Erlang's net_kernel ticks): time is cut into periods of
# T/4. At the end of a period in which nothing was queued, a Tick is sent.
# A period in which no byte arrived is *silent*; after 4 silent periods in a
# row the link is down. So a peer silent for T is detected between T and
# 1.25 T later. The handshake must finish within T too.
#
# Fragmentation and priority: actor messages go to a FIFO *bulk* queue; one
# bigger than ``fragment_size`` is cut into Frag frames. Handshake, Tick,
# Refuse and Bye frames go to an *urgent* buffer. data_to_send(limit) returns
# all urgent bytes, then bulk frames up to ``limit`` bytes, so a Tick waits
# for at most one write of ``limit`` bytes, never for a whole large message.
# Only one message is reassembled at a time (bulk is FIFO on both ends);
# its total size is capped by ``max_message``.
#
# Channel binding (flag ``tls-binding``, offered only by a side whose
# channel is TLS): when both offered it, H also covers the TLS binding each
# side sees (``_auth``), so a relay that terminates TLS breaks both proofs.
# A side with a binding whose peer did not offer it refuses the peer unless
# ``require_channel_binding`` is off (a TLS-terminating proxy in front).
#
# Credit (flag ``credit``, additive: without it casts flow as before). Each
# side announces in its Hello ``credit-window:W``, the casts (``Send``)
# per target actor it takes from this link before it granted more. The
# sender keeps ``credit[target]`` (absent = the peer's W), spends one per
# Send, and queue() raises NoCredit at zero (the driver's awaitable send
# waits instead). The receiver counts ``owed[target]`` per Send received
# (more than its own W is a protocol error) and, as its driver sees the
# target's mailbox drain, grant(target, n) sends Credit(target, n) as an
# urgent frame. A Credit for more than the sender has outstanding is a
# protocol error.
#
# Transitions (message received -> handler; anything else is a protocol
# error). Refuse and Bye are accepted in every state but CLOSED, Tick once
# ESTABLISHED. A local close() sends what is queued, then Bye:
#
#   state          | message | action                               | next
#   ---------------+---------+--------------------------------------+--------------
#   AWAIT_HELLO    | Hello   | check; send Hello + Proof            | AWAIT_PROOF
#   HELLO_SENT     | Hello   | check (expected name, method)        | AWAIT_PROOF
#   AWAIT_PROOF    | Proof   | verify; emit PeerVerified            | VERIFYING
#   VERIFYING      | (none)  | accept(): I sends Proof, A Welcome   | AWAIT_WELCOME / ESTABLISHED
#   AWAIT_WELCOME  | Welcome | emit PeerUp                          | ESTABLISHED
#   ESTABLISHED    | actor   | check flag; emit Received            | ESTABLISHED
#   ESTABLISHED    | Frag    | reassemble; emit Received when whole | ESTABLISHED
#   ESTABLISHED    | Credit  | check flag, owed; credit += grant    | ESTABLISHED
#   ESTABLISHED    | Send    | (flag credit) owed += 1, <= W        | ESTABLISHED

from __future__ import annotations

import secrets
import struct
from collections import deque
from collections.abc import Callable
from typing import Final, TypeAlias

import msgspec

from ._auth import ACCEPTOR, INITIATOR, Authenticator, transcript_hash
from ._errors import FederationError, NoCredit
from ._identity import NODE_NAME_PATTERN, NodeId
from ._linkstate import MAX_CREDIT_WINDOW as MAX_CREDIT_WINDOW
from ._linkstate import CloseReason as CloseReason
from ._linkstate import Event as Event
from ._linkstate import LinkClosed as LinkClosed
from ._linkstate import LinkConfig as LinkConfig
from ._linkstate import PeerUp as PeerUp
from ._linkstate import PeerVerified as PeerVerified
from ._linkstate import Received as Received
from ._linkstate import State as State
from ._messages import (
    CREDIT_WINDOW_PREFIX,
    DECODER,
    ENCODER,
    FLAG_CREDIT,
    FLAG_TLS_BINDING,
    GATED,
    KNOWN_FLAGS,
    PROTOCOL_VERSION,
    ActorMessage,
    Bye,
    Credit,
    Frag,
    Hello,
    Message,
    Proof,
    Refuse,
    Send,
    Tick,
    Welcome,
    is_actor_message,
)

_LEN: Final = struct.Struct(">I")
MIN_VERSION: Final = 1
MAX_VERSION: Final = PROTOCOL_VERSION


def _frame(message: Message) -> bytes:
    body = ENCODER.encode(message)
    return _LEN.pack(len(body)) + body


class Connection:
    """One end of one link (see the theory of operation above).

    Args:
        name: this node's name.
        creation: this node's creation.
        authenticator: proves this node and checks the peer.
        initiator: True on the side that dialled.
        now: the current time, from the driver's clock.
        expected_peer: the initiator refuses an acceptor with another name.
        flags: capability flags offered.
        config: limits and timings.
        channel_binding: the TLS channel binding of the transport
            (``Channel.binding``; empty when it is not TLS).
    """

    def __init__(
        self,
        *,
        name: str,
        creation: int,
        authenticator: Authenticator,
        initiator: bool,
        now: float,
        expected_peer: str | None = None,
        flags: frozenset[str] = KNOWN_FLAGS,
        config: LinkConfig | None = None,
        channel_binding: bytes = b"",
    ) -> None:
        self.config = config or LinkConfig()
        self.initiator = initiator
        self.local = NodeId(name, creation)
        self.peer: NodeId | None = None
        self.flags: frozenset[str] = frozenset()
        self.version = 0
        self._auth = authenticator
        self._expected = expected_peer
        self._binding = bytes(channel_binding)
        offered = frozenset(flags) - {FLAG_TLS_BINDING}
        self._offered = offered | ({FLAG_TLS_BINDING} if self._binding else frozenset())
        self._peer_window = 0
        self._credit: dict[int, int] = {}  # target there -> casts we may still send
        self._owed: dict[int, int] = {}  # target here -> casts not yet granted back
        #: bumped whenever the peer grants credit (drivers wake waiting senders)
        self.credit_epoch = 0
        self._events: deque[Event] = deque()
        self._inbuf = bytearray()
        self._urgent = bytearray()
        self._bulk: deque[bytes] = deque()
        self._bulk_bytes = 0
        self._reassembly = bytearray()
        self._reassembling = False
        self._hello_i = b""
        self._hello_a = b""
        self._was_up = False
        self._period = self.config.heartbeat_timeout / 4
        self._next_tick = now + self._period
        self._deadline = now + self.config.heartbeat_timeout
        self._silent = 0
        self._rx_seen = False
        self._tx_seen = False
        if initiator:
            self.state = State.HELLO_SENT
            self._hello_i = self._hello_frame()[4:]
            self._urgent += _LEN.pack(len(self._hello_i)) + self._hello_i
        else:
            self.state = State.AWAIT_HELLO

    # ---------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the transport; read the results with :meth:`next_event`.

        ``b""`` means the transport reached EOF.
        """
        if self.state is State.CLOSED:
            return
        if not data:
            self._close(CloseReason.TRANSPORT, "connection closed by peer transport")
            return
        self._rx_seen = True
        self._inbuf += data
        limit = self.config.max_frame
        while not self.closed and len(self._inbuf) >= 4:
            (size,) = _LEN.unpack_from(self._inbuf)
            if size > limit:
                self._protocol_error(f"frame of {size} bytes exceeds the limit of {limit}")
                return
            if len(self._inbuf) < 4 + size:
                return
            body = bytes(self._inbuf[4 : 4 + size])
            del self._inbuf[: 4 + size]
            try:
                message = DECODER.decode(body)
            except msgspec.DecodeError as exc:
                self._protocol_error(f"undecodable frame: {exc}")
                return
            self._dispatch(message, body)

    @property
    def closed(self) -> bool:
        """True once the link is over (a :class:`LinkClosed` was emitted)."""
        return self.state is State.CLOSED

    def next_event(self) -> Event | None:
        """The next event, or None when there is none until more input."""
        return self._events.popleft() if self._events else None

    def handle_timer(self, now: float) -> None:
        """Advance time: send a tick when idle, detect silence and slow handshakes."""
        if self.state is State.CLOSED or now < self._next_tick:
            return
        self._next_tick = now + self._period
        if self.state is not State.ESTABLISHED:
            if now >= self._deadline:
                self._close(CloseReason.HANDSHAKE_TIMEOUT, "handshake did not finish in time")
            return
        self._silent = 0 if self._rx_seen else self._silent + 1
        self._rx_seen = False
        if self._silent >= 4:
            self._close(
                CloseReason.HEARTBEAT_TIMEOUT,
                f"no data from peer for {self.config.heartbeat_timeout:g}s",
            )
            return
        if not self._tx_seen:
            self._urgent += _frame(Tick())
        self._tx_seen = False

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None once closed)."""
        return None if self.state is State.CLOSED else self._next_tick

    # --------------------------------------------------------------- output

    def queue(self, message: ActorMessage) -> None:
        """Queue an actor message; take the bytes with :meth:`data_to_send`.

        Raises:
            FederationError: the link is not established, or the message's
                kind needs a flag the peer did not agree to.
        """
        if self.state is not State.ESTABLISHED:
            raise FederationError(f"link is not up (state {self.state.value}); nothing was sent")
        flag = GATED.get(type(message))
        if flag is not None and flag not in self.flags:
            raise FederationError(
                f"{type(message).__name__} needs the {flag!r} capability, which "
                f"{self.peer} did not agree to"
            )
        if FLAG_CREDIT in self.flags and type(message) is Send:
            to = message.to
            left = self._credit.get(to, self._peer_window)
            if left <= 0:
                assert self.peer is not None
                raise NoCredit(self.peer.name, to, self._peer_window)
            body = ENCODER.encode(message)
            self._credit[to] = left - 1
        else:
            body = ENCODER.encode(message)
        self._tx_seen = True
        size = self.config.fragment_size
        if len(body) <= size:
            self._push_bulk(_LEN.pack(len(body)) + body)
            return
        for start in range(0, len(body), size):
            piece = body[start : start + size]
            self._push_bulk(_frame(Frag(piece, start + size < len(body))))

    def send(self, message: ActorMessage) -> bytes:
        """Queue ``message`` and return every byte now ready to write (h11 style).

        Drivers that interleave heartbeats with large messages use
        :meth:`queue` and :meth:`data_to_send` with a limit instead.
        """
        self.queue(message)
        return self.data_to_send()

    def data_to_send(self, limit: int | None = None) -> bytes:
        """Urgent bytes first, then queued frames up to ``limit`` bytes (at least one)."""
        out = self._urgent
        self._urgent = bytearray()
        budget = limit if limit is not None else 1 << 62
        taken = 0
        while self._bulk and (taken == 0 or taken + len(self._bulk[0]) <= budget):
            frame = self._bulk.popleft()
            self._bulk_bytes -= len(frame)
            out += frame
            taken += len(frame)
        return bytes(out)

    def credit_left(self, target: int) -> int | None:
        """Casts to the peer's actor ``target`` that may be queued now, or None
        when the peer did not agree to credit (flow is then unbounded here)."""
        if FLAG_CREDIT not in self.flags:
            return None
        return self._credit.get(target, self._peer_window)

    @property
    def owed(self) -> dict[int, int]:
        """Local target -> casts received from the peer and not yet granted
        back (read-only: grant with :meth:`grant`)."""
        return self._owed

    def grant(self, target: int, count: int) -> None:
        """Give the peer ``count`` casts of credit back for local ``target``
        (its mailbox drained them, or they were refused): an urgent frame."""
        owed = self._owed.get(target, 0)
        if not 0 < count <= owed:
            raise FederationError(f"grant of {count} for actor {target}, which is owed {owed}")
        if owed == count:
            del self._owed[target]
        else:
            self._owed[target] = owed - count
        if self.state is State.ESTABLISHED:
            if len(self._urgent) >= self.config.send_buffer:
                # a peer that keeps casting but never reads our grants would
                # grow this buffer without end
                self._protocol_error("peer does not read the credit it is granted")
                return
            self._urgent += _frame(Credit(target, count))
            self._tx_seen = True

    @property
    def buffered(self) -> int:
        """Bytes of actor messages queued and not yet taken by :meth:`data_to_send`."""
        return self._bulk_bytes

    def accept(self) -> None:
        """Accept the verified peer (call after :class:`PeerVerified`)."""
        if self.state is not State.VERIFYING:
            raise FederationError(f"accept() in state {self.state.value}")
        if self.initiator:
            self._urgent += _frame(Proof(self._auth.prove(INITIATOR, self._transcript())))
            self.state = State.AWAIT_WELCOME
        else:
            self._urgent += _frame(Welcome())
            self._up()

    def refuse(self, reason: str) -> None:
        """Refuse the verified peer (policy): tell it ``reason`` and close."""
        self._refuse(CloseReason.DENIED, reason, reason)

    def close(self, reason: str = "") -> None:
        """Send what is queued, say Bye and close; the transport may be closed
        once :meth:`data_to_send` returned the bytes."""
        if self.state is State.CLOSED:
            return
        self._urgent += b"".join(self._bulk)
        self._urgent += _frame(Bye(reason[:4096]))
        self._close(CloseReason.LOCAL, reason)

    def fail(self, detail: str) -> None:
        """The peer broke a rule a layer above the core checks: protocol error."""
        if self.state is not State.CLOSED:
            self._protocol_error(detail)

    @property
    def was_up(self) -> bool:
        """True if the handshake ever completed on this link."""
        return self._was_up

    def connection_lost(self, detail: str) -> None:
        """The transport failed: close with reason ``transport``."""
        self._close(CloseReason.TRANSPORT, detail)

    # ------------------------------------------------------------ internals

    def _push_bulk(self, frame: bytes) -> None:
        self._bulk.append(frame)
        self._bulk_bytes += len(frame)

    def _hello_frame(self) -> bytes:
        return _frame(
            Hello(
                MIN_VERSION,
                MAX_VERSION,
                self.local.name,
                self.local.creation,
                self._hello_flags(),
                secrets.token_bytes(32),
                self._auth.method,
            )
        )

    def _hello_flags(self) -> list[str]:
        flags = sorted(self._offered)
        if FLAG_CREDIT in self._offered:
            flags.append(f"{CREDIT_WINDOW_PREFIX}{self.config.credit_window}")
        return flags

    def _transcript(self) -> bytes:
        bound = self._binding if FLAG_TLS_BINDING in self.flags else b""
        return transcript_hash(self._hello_i, self._hello_a, bound)

    def _dispatch(self, message: Message, body: bytes) -> None:
        if isinstance(message, Refuse):
            self._close(CloseReason.REFUSED_BY_PEER, message.reason)
            return
        if isinstance(message, Bye):
            self._close(CloseReason.PEER_CLOSED, message.reason)
            return
        handler = _TRANSITIONS.get((self.state, type(message)))
        if handler is None:
            if self.state is State.ESTABLISHED and is_actor_message(message):
                self._received(message)
                return
            self._protocol_error(f"unexpected {type(message).__name__} in state {self.state.value}")
            return
        handler(self, message, body)

    def _check_hello(self, hello: Hello) -> str | None:
        if hello.min_version > MAX_VERSION or hello.max_version < MIN_VERSION:
            return f"no common protocol version (peer {hello.min_version}..{hello.max_version})"
        if NODE_NAME_PATTERN.fullmatch(hello.name) is None:
            return f"invalid node name {hello.name!r}"
        if hello.auth != self._auth.method:
            return f"peer authenticates with {hello.auth!r}, this node with {self._auth.method!r}"
        if hello.name == self.local.name:
            return "peer claims this node's own name"
        if self._expected is not None and hello.name != self._expected:
            return f"dialled {self._expected!r} but the peer is {hello.name!r}"
        if not self._auth.knows(hello.name):
            return f"unknown node {hello.name!r}"
        if (
            self._binding
            and FLAG_TLS_BINDING not in hello.flags
            and self.config.require_channel_binding
        ):
            return "peer does not bind the handshake to the TLS session (tls-binding)"
        return None

    def _window_of(self, hello: Hello) -> int | None:
        """The peer's announced credit window, if valid."""
        for flag in hello.flags:
            if flag.startswith(CREDIT_WINDOW_PREFIX):
                text = flag[len(CREDIT_WINDOW_PREFIX) :]
                if text.isdigit() and len(text) <= 8 and 1 <= int(text) <= MAX_CREDIT_WINDOW:
                    return int(text)
                return None
        return None

    def _on_hello(self, hello: Hello, body: bytes) -> None:
        problem = self._check_hello(hello)
        self.peer = NodeId(hello.name, hello.creation)
        if problem is not None:
            self._refuse(CloseReason.AUTH_FAILED, problem, "handshake refused: " + problem)
            return
        self.version = min(MAX_VERSION, hello.max_version)
        self.flags = self._offered & frozenset(hello.flags)
        if FLAG_CREDIT in self.flags:
            window = self._window_of(hello)
            if window is None:
                self._protocol_error(f"'{FLAG_CREDIT}' offered without a valid credit-window")
                return
            self._peer_window = window
        if self.initiator:
            self._hello_a = body
        else:
            self._hello_i = body
            hello_a = self._hello_frame()
            self._hello_a = hello_a[4:]
            self._urgent += hello_a
            self._urgent += _frame(Proof(self._auth.prove(ACCEPTOR, self._transcript())))
        self.state = State.AWAIT_PROOF

    def _on_proof(self, proof: Proof, body: bytes) -> None:
        assert self.peer is not None
        role = ACCEPTOR if self.initiator else INITIATOR
        if not self._auth.verify(self.peer.name, role, self._transcript(), proof.proof):
            self._refuse(
                CloseReason.AUTH_FAILED,
                f"{self.peer.name!r} failed to prove its credential",
                "authentication failed",
            )
            return
        self.state = State.VERIFYING
        self._events.append(PeerVerified(self.peer, self.flags, self.version))

    def _on_welcome(self, welcome: Welcome, body: bytes) -> None:
        self._up()

    def _on_tick(self, tick: Tick, body: bytes) -> None:
        pass

    def _on_credit(self, credit: Credit, body: bytes) -> None:
        if FLAG_CREDIT not in self.flags:
            self._protocol_error(f"Credit sent without agreeing {FLAG_CREDIT!r}")
            return
        left = self._credit.get(credit.target)
        if left is None or left + credit.grant > self._peer_window:
            self._protocol_error(f"Credit of {credit.grant} for casts to {credit.target} not sent")
            return
        if left + credit.grant == self._peer_window:
            del self._credit[credit.target]
        else:
            self._credit[credit.target] = left + credit.grant
        self.credit_epoch += 1

    def _on_frag(self, frag: Frag, body: bytes) -> None:
        if len(self._reassembly) + len(frag.data) > self.config.max_message:
            self._protocol_error(f"fragmented message exceeds {self.config.max_message} bytes")
            return
        self._reassembly += frag.data
        if frag.more:
            return
        whole = bytes(self._reassembly)
        self._reassembly.clear()
        try:
            message = DECODER.decode(whole)
        except msgspec.DecodeError as exc:
            self._protocol_error(f"undecodable fragmented message: {exc}")
            return
        if not is_actor_message(message):
            self._protocol_error(f"{type(message).__name__} may not be fragmented")
            return
        self._received(message)

    def _received(self, message: ActorMessage) -> None:
        if self._reassembly:
            self._protocol_error("actor message inside a fragmented message")
            return
        flag = GATED.get(type(message))
        if flag is not None and flag not in self.flags:
            self._protocol_error(f"{type(message).__name__} sent without agreeing {flag!r}")
            return
        if type(message) is Send and FLAG_CREDIT in self.flags:
            owed = self._owed.get(message.to, 0) + 1
            if owed > self.config.credit_window:
                self._protocol_error(
                    f"more than {self.config.credit_window} casts to actor {message.to} "
                    "without credit"
                )
                return
            self._owed[message.to] = owed
        self._events.append(Received(message))

    def _up(self) -> None:
        assert self.peer is not None
        self.state = State.ESTABLISHED
        self._was_up = True
        self._silent = 0
        self._events.append(PeerUp(self.peer, self.flags))

    def _refuse(self, reason: CloseReason, detail: str, told: str) -> None:
        self._urgent += _frame(Refuse(told[:4096]))
        self._close(reason, detail)

    def _protocol_error(self, detail: str) -> None:
        self._refuse(CloseReason.PROTOCOL_ERROR, detail, "protocol error: " + detail)

    def _close(self, reason: CloseReason, detail: str) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self._bulk.clear()
        self._bulk_bytes = 0
        self._inbuf.clear()
        self._reassembly.clear()
        self._owed.clear()
        self.credit_epoch += 1
        self._events.append(LinkClosed(reason, detail, self.peer, self._was_up))


_Handler: TypeAlias = Callable[[Connection, "Message", bytes], None]

# (state, message type) -> handler. Refuse is handled before this table in
# every state; actor messages are handled after it in ESTABLISHED.
_TRANSITIONS: Final[dict[tuple[State, type[msgspec.Struct]], _Handler]] = {
    (State.AWAIT_HELLO, Hello): Connection._on_hello,  # type: ignore[dict-item]
    (State.HELLO_SENT, Hello): Connection._on_hello,  # type: ignore[dict-item]
    (State.AWAIT_PROOF, Proof): Connection._on_proof,  # type: ignore[dict-item]
    (State.AWAIT_WELCOME, Welcome): Connection._on_welcome,  # type: ignore[dict-item]
    (State.ESTABLISHED, Tick): Connection._on_tick,  # type: ignore[dict-item]
    (State.ESTABLISHED, Frag): Connection._on_frag,  # type: ignore[dict-item]
    (State.ESTABLISHED, Credit): Connection._on_credit,  # type: ignore[dict-item]
}
