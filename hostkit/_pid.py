"""Process identifiers and exit reasons: plain values shared by every layer.

Pure standard library, importable without wasmtime (a test proves it).

A :class:`Pid` names one actor on one *node*: ``Pid(id, node, creation)``.
``node`` is the host's node name (``HostConfig.node_name``) and ``creation``
a number the host draws at random each time it boots, so a pid handed out by
an earlier boot of the same node never names an actor of this one. Guests see
only ``id`` (the WIT ``pid`` is a ``u64``): a pid built from a bare id,
``Pid(7)``, has no node and means "on the host this value is given to".
"""

from __future__ import annotations

from typing import Final, final

__all__ = ["HOST_PID", "KILLED", "NORMAL", "SHUTDOWN", "ExitReason", "Pid"]


@final
class Pid:
    """Identifies an actor (or the host itself, id 0) on a node.

    Pids are values: compare and hash them, put them in messages as
    ``int(pid)`` when talking to guests of the same host. A host never reuses
    a pid, and pids of a host's earlier boots (another ``creation``) never
    name its actors.

    Args:
        id: the actor's number on its node (0 is the host).
        node: the node name; ``""`` (a bare id, e.g. from a guest) means the
            host the pid is given to.
        creation: the node's boot number; 0 with ``node=""``.
    """

    __slots__ = ("creation", "id", "node")

    id: int
    node: str
    creation: int

    def __init__(self, id: int, node: str = "", creation: int = 0) -> None:
        if not isinstance(id, int) or isinstance(id, bool) or not 0 <= id < 2**64:
            raise ValueError(f"a pid id must be an integer in [0, 2**64), got {id!r}")
        if not isinstance(node, str):
            raise TypeError(f"a pid's node must be a str, got {type(node).__name__}")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "creation", creation)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Pid is immutable")

    def __int__(self) -> int:
        return self.id

    def __index__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Pid)
            and other.id == self.id
            and other.node == self.node
            and other.creation == self.creation
        )

    def __hash__(self) -> int:
        return hash((self.id, self.node, self.creation))

    def __repr__(self) -> str:
        if not self.node:
            return f"<0.{self.id}>"
        return f"<{self.node}.{self.creation}.{self.id}>"

    __str__ = __repr__


HOST_PID: Final = Pid(0)


@final
class ExitReason:
    """Why an actor ended. ``kind`` is one of :attr:`KINDS`; ``detail`` is the
    human text (the trap message, the guest's stop reason, the exception).

    ``normal`` and ``shutdown`` are *normal* exits in OTP's sense: they do not
    kill linked actors and do not restart transient children.
    """

    __slots__ = ("detail", "kind")

    KINDS: Final = frozenset(
        {
            "normal",  # the actor stopped itself cleanly
            "shutdown",  # stopped by its supervisor or the host closing
            "killed",  # untrappable kill
            "trap",  # the guest trapped (unreachable, out of bounds, ...)
            "fuel",  # the activation ran out of fuel
            "deadline",  # the activation ran past its deadline
            "budget",  # the activation made too many host calls
            "error",  # the guest stopped itself with a non-normal reason
            "host-error",  # a host function raised; detail names the exception
            "denied",  # a capability was denied and the WIT function has no error case
            "noproc",  # monitored/linked a pid that did not exist
            "noconnection",  # the node hosting the actor became unreachable
            "protocol",  # the guest broke the frame protocol (forged reply, bad frame)
            "limit",  # the actor went past a host limit (outbox, mailbox, spawn)
        }
    )

    kind: str
    detail: str

    def __init__(self, kind: str, detail: str = "") -> None:
        if kind not in self.KINDS:
            raise ValueError(
                f"unknown exit reason kind {kind!r}; expected one of {sorted(self.KINDS)}"
            )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "detail", detail)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ExitReason is immutable")

    @property
    def is_normal(self) -> bool:
        """True for ``normal`` and ``shutdown``: exits that do not propagate
        to links and do not restart transient children."""
        return self.kind in ("normal", "shutdown")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ExitReason)
            and other.kind == self.kind
            and other.detail == self.detail
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.detail))

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind

    def __repr__(self) -> str:
        return f"ExitReason({self.kind!r}, {self.detail!r})"


NORMAL: Final = ExitReason("normal")
SHUTDOWN: Final = ExitReason("shutdown")
KILLED: Final = ExitReason("killed")
