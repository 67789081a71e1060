"""Mutual authentication: proofs over the handshake transcript.

The transcript is SHA-256 over a fixed label and the exact bytes of both
:class:`Hello` messages (initiator's first). Each Hello carries a fresh
32-byte random nonce, so every transcript is new: a recorded handshake
replayed against either side fails because the other side's nonce differs.
Each side proves with its *role* in the label ("initiator" / "acceptor"),
so a proof cannot be reflected back to its maker. Nothing secret crosses
the wire: with a cluster secret the proof is HMAC-SHA256(secret, label ||
transcript); with node keys it is an Ed25519 signature that the peer checks
against the public key it knows for that node name.

Channel binding: when both sides run over TLS (``wss://`` or QUIC) and both
offered the ``tls-binding`` flag, the transcript also covers the TLS
session as each side sees it: SHA-256 of the DER certificate the TLS
*server* presented (the ``tls-server-end-point`` binding of RFC 5929, with
SHA-256 always). A relay that terminates TLS must present its own
certificate to the dialler, so the two sides hash different certificates,
their transcripts differ, and neither proof verifies: two authenticated
sessions cannot be spliced. RFC 9266's ``tls-exporter`` would bind the
session itself, but neither Python's ``ssl`` (only ``tls-unique``, which
TLS 1.3 does not define) nor aioquic exposes the TLS 1.3 exporter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol

from ._errors import FederationConfigError
from ._identity import SECRET_BYTES, check_node_name, read_cluster_secret, read_private

TRANSCRIPT_LABEL: Final = b"hostkit-federation/1 transcript\x00"
INITIATOR: Final = "initiator"
ACCEPTOR: Final = "acceptor"


BINDING_LABEL: Final = b"tls-server-end-point\x00"


def transcript_hash(
    hello_initiator: bytes, hello_acceptor: bytes, channel_binding: bytes = b""
) -> bytes:
    """SHA-256 of the label and both Hello frames, each length-prefixed, then
    (if not empty) the TLS channel binding, labelled and length-prefixed."""
    h = hashlib.sha256(TRANSCRIPT_LABEL)
    for part in (hello_initiator, hello_acceptor):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    if channel_binding:
        h.update(BINDING_LABEL)
        h.update(len(channel_binding).to_bytes(4, "big"))
        h.update(channel_binding)
    return h.digest()


def certificate_binding(der: bytes) -> bytes:
    """The channel binding of a TLS session whose server presented ``der``."""
    return hashlib.sha256(der).digest()


def _signed_bytes(role: str, transcript: bytes) -> bytes:
    return b"hostkit-federation/1 " + role.encode() + b"\x00" + transcript


class Authenticator(Protocol):
    """How this node proves itself and checks peers (one per node)."""

    @property
    def method(self) -> str:
        """The method name sent in Hello (``secret`` or ``ed25519``)."""
        ...

    def knows(self, peer: str) -> bool:
        """Whether ``peer`` could possibly authenticate (unknown names are refused early)."""
        ...

    def prove(self, role: str, transcript: bytes) -> bytes:
        """This node's proof for ``role`` over ``transcript``."""
        ...

    def verify(self, peer: str, role: str, transcript: bytes, proof: bytes) -> bool:
        """Whether ``proof`` shows ``peer`` holds the credential, for ``role``."""
        ...


class ClusterSecret:
    """Every node of the cluster shares one secret (Erlang's cookie, done right).

    Args:
        secret: at least 32 random bytes (see ``hostkit node keygen --secret``).
        peers: if given, only these node names are accepted; otherwise any
            name that proves the secret is (and Cedar decides what it may do).

    Raises:
        FederationConfigError: the secret is shorter than 32 bytes.
    """

    method: Final = "secret"

    def __init__(self, secret: bytes, *, peers: frozenset[str] | None = None) -> None:
        if len(secret) < SECRET_BYTES:
            raise FederationConfigError("a cluster secret needs at least 32 random bytes")
        self._secret = bytes(secret)
        self._peers = peers

    @classmethod
    def from_file(cls, path: str | Path, *, peers: frozenset[str] | None = None) -> ClusterSecret:
        """Load a secret file (hex, mode 0600) written by ``hostkit node keygen --secret``."""
        return cls(read_cluster_secret(Path(path)), peers=peers)

    def knows(self, peer: str) -> bool:
        return self._peers is None or peer in self._peers

    def prove(self, role: str, transcript: bytes) -> bytes:
        return hmac.new(self._secret, _signed_bytes(role, transcript), hashlib.sha256).digest()

    def verify(self, peer: str, role: str, transcript: bytes, proof: bytes) -> bool:
        return self.knows(peer) and hmac.compare_digest(self.prove(role, transcript), proof)

    def __repr__(self) -> str:
        return "ClusterSecret(<hidden>)"


class NodeKeys:
    """Each node has its own Ed25519 key; peers are known by their public keys.

    Args:
        private_key_pem: this node's private key (PKCS#8 PEM).
        known: node name -> that node's public key (SubjectPublicKeyInfo PEM).

    Raises:
        FederationConfigError: a key does not parse, or a name is invalid.
    """

    method: Final = "ed25519"

    def __init__(self, private_key_pem: bytes, known: Mapping[str, bytes]) -> None:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives.serialization import (
            load_pem_private_key,
            load_pem_public_key,
        )

        try:
            key = load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise FederationConfigError(f"node private key does not parse: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise FederationConfigError("node private key is not an Ed25519 key")
        self._key = key
        self._known: dict[str, ed25519.Ed25519PublicKey] = {}
        for name, pem in known.items():
            check_node_name(name)
            try:
                pub = load_pem_public_key(pem)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise FederationConfigError(
                    f"public key of {name!r} does not parse: {exc}"
                ) from None
            if not isinstance(pub, ed25519.Ed25519PublicKey):
                raise FederationConfigError(f"public key of {name!r} is not an Ed25519 key")
            self._known[name] = pub

    @classmethod
    def from_files(cls, private_key: str | Path, known: Mapping[str, str | Path]) -> NodeKeys:
        """Load this node's key (mode 0600) and the peers' ``.pub`` files."""
        return cls(
            read_private(Path(private_key)),
            {name: Path(p).read_bytes() for name, p in known.items()},
        )

    def knows(self, peer: str) -> bool:
        return peer in self._known

    def prove(self, role: str, transcript: bytes) -> bytes:
        return self._key.sign(_signed_bytes(role, transcript))

    def verify(self, peer: str, role: str, transcript: bytes, proof: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        pub = self._known.get(peer)
        if pub is None:
            return False
        try:
            pub.verify(proof, _signed_bytes(role, transcript))
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"NodeKeys(known={sorted(self._known)})"
