"""Process groups (Erlang's ``pg``): the pure membership table of one node.

A group is a name; its members are pids on any node, and a pid may join the
same group more than once (it is then listed once per join, as in ``pg``).
Each node owns its local memberships and tells every peer: the whole table
(:class:`PgSync`) when a link comes up, then each join and leave. A peer's
memberships disappear with its link. Publishing sends one message per node
that has members; that node delivers to its own members.

Everything a peer can make this node hold is bounded: ``max_remote_entries``
memberships per peer (a peer over it breaks the protocol).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final, TypeAlias

from ._errors import FederationConfigError, ProtocolError
from ._identity import NodeId, RemotePid
from ._messages import PgJoin, PgLeave, PgSync

MAX_GROUP_NAME: Final = 255
DEFAULT_MAX_REMOTE_ENTRIES: Final = 100_000

_Table: TypeAlias = dict[str, Counter[int]]


def _check_group(group: str) -> str:
    if not isinstance(group, str) or not 0 < len(group) <= MAX_GROUP_NAME:
        raise FederationConfigError(f"invalid group name {group!r}: use 1-255 characters")
    return group


class ProcessGroups:
    """Group memberships: this node's own, and those its peers announced."""

    def __init__(self, *, max_remote_entries: int = DEFAULT_MAX_REMOTE_ENTRIES) -> None:
        self._local: dict[str, Counter[int]] = {}
        self._joins: Counter[int] = Counter()  # local pid -> its joins, all groups
        self._remote: dict[NodeId, dict[str, Counter[int]]] = {}
        self._remote_count: Counter[NodeId] = Counter()
        self._max_remote = max_remote_entries

    # ------------------------------------------------------------ local side

    def join(self, group: str, pids: Iterable[int]) -> PgJoin:
        """Local ``pids`` join ``group``; returns the message to send every peer."""
        members = self._local.setdefault(_check_group(group), Counter())
        joined = list(pids)
        members.update(joined)
        self._joins.update(joined)
        return PgJoin(group, joined)

    def leave(self, group: str, pids: Iterable[int]) -> PgLeave | None:
        """Local ``pids`` leave ``group`` once each (those not in it are ignored).

        Returns the message for the peers, or None if nobody left.
        """
        members = self._local.get(group)
        if members is None:
            return None
        left = [pid for pid in pids if members[pid] > 0]
        members.subtract(left)
        for pid in left:
            self._joins[pid] -= 1
            if self._joins[pid] <= 0:
                del self._joins[pid]
        self._local[group] = +members
        if not self._local[group]:
            del self._local[group]
        return PgLeave(group, left) if left else None

    def leave_all(self, pid: int) -> list[PgLeave]:
        """A local actor ended: every group drops every join of it."""
        out = []
        for group in list(self._local):
            count = self._local[group][pid]
            if count:
                msg = self.leave(group, [pid] * count)
                if msg is not None:
                    out.append(msg)
        return out

    def sync(self) -> PgSync:
        """The whole local table, for a peer whose link just came up."""
        return PgSync({g: list(c.elements()) for g, c in self._local.items()})

    # ----------------------------------------------------------- peer side

    def apply(self, node: NodeId, message: PgSync | PgJoin | PgLeave) -> None:
        """Record what ``node`` announced.

        Raises:
            ProtocolError: the peer would exceed ``max_remote_entries``.
        """
        table = self._remote.setdefault(node, {})
        match message:
            case PgSync(groups=groups):
                for group in list(table):
                    self._drop(node, table, group, list(table[group].elements()))
                for group, pids in groups.items():
                    self._add(node, table, group, pids)
            case PgJoin(group=group, pids=pids):
                self._add(node, table, group, pids)
            case PgLeave(group=group, pids=pids):
                if group in table:
                    self._drop(node, table, group, pids)

    def node_down(self, node: NodeId) -> None:
        """Forget every membership ``node`` announced (its link is gone)."""
        self._remote.pop(node, None)
        self._remote_count.pop(node, None)

    def _add(self, node: NodeId, table: _Table, group: str, pids: list[int]) -> None:
        if not group:
            raise ProtocolError(f"{node} announced an empty group name")
        if self._remote_count[node] + len(pids) > self._max_remote:
            raise ProtocolError(f"{node} announced more than {self._max_remote} group memberships")
        table.setdefault(group, Counter()).update(pids)
        self._remote_count[node] += len(pids)

    def _drop(self, node: NodeId, table: _Table, group: str, pids: list[int]) -> None:
        members = table[group]
        present = [pid for pid in pids if members[pid] > 0]
        members.subtract(present)
        self._remote_count[node] -= len(present)
        table[group] = +members
        if not table[group]:
            del table[group]

    # ---------------------------------------------------------------- reads

    def members(self, group: str) -> list[int | RemotePid]:
        """Every membership of ``group``: local ids (ints) first, then remote pids."""
        out: list[int | RemotePid] = list(self._local.get(group, Counter()).elements())
        for node, table in self._remote.items():
            members = table.get(group, Counter())
            out.extend(RemotePid(node.name, node.creation, pid) for pid in members.elements())
        return out

    def joins_of(self, pid: int) -> int:
        """How many joins local ``pid`` holds, over every group."""
        return self._joins[pid]

    def remote_members(self, node: NodeId, group: str) -> int:
        """How many memberships of ``group`` ``node`` announced."""
        return self._remote.get(node, {}).get(group, Counter()).total()

    def local_members(self, group: str) -> list[int]:
        """Local ids in ``group`` (once per join)."""
        return list(self._local.get(group, Counter()).elements())

    def nodes_with_members(self, group: str) -> list[NodeId]:
        """Peers with at least one member in ``group`` (publish targets)."""
        return [node for node, table in self._remote.items() if group in table]

    def groups(self) -> list[str]:
        """Every group with a member anywhere, sorted."""
        names = set(self._local)
        for table in self._remote.values():
            names.update(table)
        return sorted(names)
