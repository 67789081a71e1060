"""Who a node is: its name, its creation, its key material, and remote pids.

A node is ``name`` (chosen by the operator, stable across restarts) plus a
*creation* (a random 32-bit number drawn at every boot) plus a persistent
credential: a cluster secret shared by all nodes, or an Ed25519 key pair
whose public half the peers know. A pid on another node is
``RemotePid(node, creation, id)``: once a node restarts, its new creation
makes every pid of the previous boot stale, so a message for it is dropped
instead of reaching an unrelated actor that happens to reuse the id.

Guests see pids as a WIT ``u64``. :class:`PidSlots` packs a remote pid into
it: the high 16 bits are a per-host *node slot* (0 = this node), the low 48
bits the actor id on that node. A slot names one ``(node, creation)``; a new
creation of the same node gets a new slot, and slots are never reused while
the host runs.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._errors import FederationConfigError

#: A node name: letters, digits and ``. _ - @``, starting with a letter or
#: digit, at most 128 characters. Safe as a Cedar entity id and in logs.
NODE_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")

#: Bits of the WIT ``u64`` pid that carry the local actor id.
LOCAL_ID_BITS: Final = 48
LOCAL_ID_MASK: Final = (1 << LOCAL_ID_BITS) - 1
#: The largest node slot (slot 0 is the local node).
MAX_SLOT: Final = (1 << (64 - LOCAL_ID_BITS)) - 1

SECRET_BYTES: Final = 32


def check_node_name(name: str) -> str:
    """Return ``name`` if it is a valid node name.

    Raises:
        FederationConfigError: the name is empty, too long or has characters
            outside ``A-Z a-z 0-9 . _ - @``.
    """
    if not isinstance(name, str) or NODE_NAME_PATTERN.fullmatch(name) is None:
        raise FederationConfigError(
            f"invalid node name {name!r}: use 1-128 letters, digits or '._-@', "
            "starting with a letter or digit"
        )
    return name


def new_creation() -> int:
    """A fresh random creation number (non-zero, 32 bits), drawn once per boot."""
    return secrets.randbelow((1 << 32) - 1) + 1


@dataclass(frozen=True, slots=True)
class NodeId:
    """One boot of one node: its name and the creation it drew at start."""

    name: str
    creation: int

    def __str__(self) -> str:
        return f"{self.name}#{self.creation:08x}"


@dataclass(frozen=True, slots=True)
class RemotePid:
    """An actor on another node: the node, the node's creation, the actor id there."""

    node: str
    creation: int
    id: int

    @property
    def node_id(self) -> NodeId:
        """The boot of the node this actor lives on."""
        return NodeId(self.node, self.creation)

    def __str__(self) -> str:
        return f"<{self.node}#{self.creation:08x}.{self.id}>"


class PidSlots:
    """The per-host table that packs remote pids into WIT ``u64`` pids.

    ``wire = slot << 48 | id``; slot 0 is this node. Slots are handed out on
    first use of a ``(node, creation)`` and never reused, so a stale pid a
    guest kept still decodes to the old creation (and is then dropped as
    stale) rather than to a new actor.
    """

    def __init__(self) -> None:
        self._slot_of: dict[NodeId, int] = {}
        self._node_of: list[NodeId | None] = [None]
        # encode runs on scheduler threads too (guests' lookups): one
        # allocation at a time; decode reads without it (list appends and
        # dict sets are atomic, and a slot is published only once complete)
        self._lock = threading.Lock()

    def encode(self, pid: RemotePid) -> int:
        """The guest-visible ``u64`` for ``pid``, allocating a slot if needed.

        Raises:
            FederationConfigError: the actor id does not fit in 48 bits, or
                all 65,535 slots are used (restart the host).
        """
        if not 0 <= pid.id <= LOCAL_ID_MASK:  # id 0 is the remote host itself
            raise FederationConfigError(f"actor id {pid.id} of {pid} does not fit in 48 bits")
        node = pid.node_id
        slot = self._slot_of.get(node)
        if slot is None:
            with self._lock:
                slot = self._slot_of.get(node)
                if slot is None:
                    if len(self._node_of) > MAX_SLOT:
                        raise FederationConfigError(
                            f"no node slot left for {node}: {MAX_SLOT} node boots seen; "
                            "restart the host"
                        )
                    slot = len(self._node_of)
                    self._node_of.append(node)
                    self._slot_of[node] = slot
        return slot << LOCAL_ID_BITS | pid.id

    def decode(self, wire: int) -> RemotePid | int:
        """A guest ``u64`` back to a :class:`RemotePid`, or the local actor id (an int).

        Raises:
            FederationConfigError: the value is not a u64 or names a slot
                this host never handed out.
        """
        if not 0 <= wire < 1 << 64:
            raise FederationConfigError(f"pid {wire} is not a u64")
        slot, local = wire >> LOCAL_ID_BITS, wire & LOCAL_ID_MASK
        if slot == 0:
            return local
        node = self._node_of[slot] if slot < len(self._node_of) else None
        if node is None:
            raise FederationConfigError(f"pid {wire:#x} names unknown node slot {slot}")
        return RemotePid(node.name, node.creation, local)

    def slot(self, node: NodeId) -> int | None:
        """The slot of ``node``, or None if no pid of it was encoded yet."""
        return self._slot_of.get(node)


# ----------------------------------------------------------------- key files


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only (mode 0600).

    Raises:
        FederationConfigError: the file exists already (refuse to overwrite a key).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FederationConfigError(
            f"{path} exists; refusing to overwrite a key (move it away first)"
        ) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_private(path: Path) -> bytes:
    """Read a key file, refusing one that others can read or write.

    Raises:
        FederationConfigError: the file is missing, or its mode allows group
            or other access (fix with ``chmod 600``).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FederationConfigError(f"key file {path} not found") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise FederationConfigError(
            f"key file {path} has mode {stat.S_IMODE(mode):o}; run: chmod 600 {path}"
        )
    return path.read_bytes()


def new_cluster_secret() -> bytes:
    """A fresh random 32-byte cluster secret."""
    return secrets.token_bytes(SECRET_BYTES)


def write_cluster_secret(path: Path) -> None:
    """Create a cluster secret file (hex, mode 0600). Copy it to every node."""
    write_private(path, new_cluster_secret().hex().encode() + b"\n")


def read_cluster_secret(path: Path) -> bytes:
    """Load a cluster secret written by :func:`write_cluster_secret`.

    Raises:
        FederationConfigError: missing, readable by others, or not 32+ hex bytes.
    """
    text = read_private(path).strip()
    try:
        secret = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise FederationConfigError(f"{path} is not a hex cluster secret") from None
    if len(secret) < SECRET_BYTES:
        raise FederationConfigError(f"{path}: a cluster secret needs at least 32 bytes")
    return secret
