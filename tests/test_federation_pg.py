"""Process groups: the pure table against a reference model, and through two cores."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostkit.federation import NodeId, ProcessGroups, ProtocolError, RemotePid

NODES = [NodeId("b", 1), NodeId("c", 2), NodeId("b", 3)]  # b restarted: a new creation
GROUPS = ["g", "h"]

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("join"), st.sampled_from(GROUPS), st.lists(st.integers(1, 4), max_size=3)
        ),
        st.tuples(
            st.just("leave"), st.sampled_from(GROUPS), st.lists(st.integers(1, 4), max_size=3)
        ),
        st.tuples(st.just("exit"), st.integers(1, 4)),
        st.tuples(
            st.just("rjoin"),
            st.sampled_from(NODES),
            st.sampled_from(GROUPS),
            st.lists(st.integers(1, 4), max_size=3),
        ),
        st.tuples(
            st.just("rleave"),
            st.sampled_from(NODES),
            st.sampled_from(GROUPS),
            st.lists(st.integers(1, 4), max_size=3),
        ),
        st.tuples(st.just("down"), st.sampled_from(NODES)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_table_matches_a_reference_model(ops):
    from hostkit.federation._messages import PgJoin, PgLeave

    pg = ProcessGroups()
    model: dict[tuple[object, str], Counter] = {}  # (node or None, group) -> Counter of pids

    def counter(node, group):
        return model.setdefault((node, group), Counter())

    for op in ops:
        match op:
            case ("join", group, pids):
                pg.join(group, pids)
                counter(None, group).update(pids)
            case ("leave", group, pids):
                pg.leave(group, pids)
                c = counter(None, group)
                for pid in pids:
                    if c[pid] > 0:
                        c[pid] -= 1
            case ("exit", pid):
                pg.leave_all(pid)
                for (node, _), c in model.items():
                    if node is None:
                        c[pid] = 0
            case ("rjoin", node, group, pids):
                pg.apply(node, PgJoin(group, pids))
                counter(node, group).update(pids)
            case ("rleave", node, group, pids):
                pg.apply(node, PgLeave(group, pids))
                c = counter(node, group)
                for pid in pids:
                    if c[pid] > 0:
                        c[pid] -= 1
            case ("down", node):
                pg.node_down(node)
                for (n, _), c in model.items():
                    if n == node:
                        c.clear()
        for group in GROUPS:
            expected = Counter()
            for (node, g), c in model.items():
                if g != group:
                    continue
                for pid, k in (+c).items():
                    key = pid if node is None else RemotePid(node.name, node.creation, pid)
                    expected[key] += k
            assert Counter(pg.members(group)) == expected
            assert Counter(pg.local_members(group)) == Counter(
                {p: k for p, k in expected.items() if isinstance(p, int)}
            )


def test_sync_replaces_what_a_node_announced_before():
    from hostkit.federation._messages import PgJoin, PgSync

    pg = ProcessGroups()
    b = NodeId("b", 1)
    pg.apply(b, PgJoin("g", [1, 2]))
    pg.apply(b, PgSync({"h": [3]}))
    assert pg.members("g") == [] and pg.members("h") == [RemotePid("b", 1, 3)]
    assert pg.groups() == ["h"]


def test_the_remote_entry_limit_counts_per_node():
    from hostkit.federation._messages import PgJoin

    pg = ProcessGroups(max_remote_entries=3)
    pg.apply(NodeId("b", 1), PgJoin("g", [1, 2, 3]))
    pg.apply(NodeId("c", 1), PgJoin("g", [1, 2, 3]))
    with pytest.raises(ProtocolError, match="more than 3"):
        pg.apply(NodeId("b", 1), PgJoin("h", [4]))


@pytest.mark.parametrize("bad", ["", "x" * 256])
def test_invalid_group_names_are_refused(bad):
    from hostkit.federation import FederationConfigError

    with pytest.raises(FederationConfigError):
        ProcessGroups().join(bad, [1])


def test_membership_syncs_over_a_link_and_goes_with_it():
    from test_federation_core import Pair

    from hostkit.federation import LinkClosed, PeerUp, Received

    pg_a, pg_b = ProcessGroups(), ProcessGroups()
    pg_a.join("g", [1, 1])  # before the link is up
    pair = Pair()
    pair.pump()
    (up,) = pair.of("b", PeerUp)
    pair.a.queue(pg_a.sync())  # what Federation does on PeerUp
    pair.a.queue(pg_a.join("g", [2]))
    pair.a.queue(pg_a.leave("g", [1]))
    pair.pump()
    for ev in pair.of("b", Received):
        pg_b.apply(up.peer, ev.message)
    assert sorted(pg_b.members("g"), key=str) == [RemotePid("a", 1, 1), RemotePid("a", 1, 2)]
    pair.a.close("bye")
    pair.pump()
    (closed,) = pair.of("b", LinkClosed)
    pg_b.node_down(closed.peer)
    assert pg_b.members("g") == []
