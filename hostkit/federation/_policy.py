"""Authorizing peers: every inbound remote operation is one decision.

The federation asks a :class:`PeerPolicy` before it carries out anything a
peer asked for; the peer is the Cedar principal ``Node::"<name>"``. Targets
are described by what the federation knows (a local pid, a registered
name, a component, a group); the host turns them into Cedar resources
(only it knows which plugin runs a pid). :class:`CedarPeerPolicy` is that
translation over hostkit's :class:`~hostkit.capabilities.Authorizer`, with
an audit record per decision. The actions not in the stock schema are in
``capabilities/federation.cedarschema``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from ._identity import NodeId

if TYPE_CHECKING:
    from ..capabilities import Authorizer, CedarSchema, Entity

CONNECT: Final = "hostkit:federation#connect"
SEND: Final = "hostkit:plugin/process#send"
CALL: Final = "hostkit:plugin/process#call"
SPAWN: Final = "hostkit:plugin/process#spawn"
WHEREIS: Final = "hostkit:plugin/process#whereis"
LINK: Final = "hostkit:federation#link"
EXIT: Final = "hostkit:federation#exit"
MONITOR: Final = "hostkit:federation#monitor"
PG_JOIN: Final = "hostkit:federation#pg-join"
PG_PUBLISH: Final = "hostkit:federation#pg-publish"

#: ``capabilities/federation.cedarschema``, embedded so an installed hostkit
#: has it (a test checks the two are equal).
SCHEMA_FRAGMENT: Final = """\
// hostkit federation: the actions a remote node may ask of this node.
//
// A schema fragment on top of schema.cedarschema (load it with
// CedarSchema.stock().extend(Path("capabilities/federation.cedarschema"))).
// The principal of every request is the peer, Node::"<name>", with the
// Group parents the host assigns to it. Sending, calling, spawning and name
// lookups from a peer use the stock process actions (their principal may be
// a Node); this fragment adds what only a peer does:
//
//   hostkit:federation#connect     (stock) may the peer link with this node at all
//   hostkit:plugin/process#send    (stock) cast to a local actor; resource: its Plugin
//   hostkit:plugin/process#call    (stock) call a local actor; resource: its Plugin
//   hostkit:plugin/process#spawn   (stock) start a component; resource: its Plugin
//   hostkit:plugin/process#whereis (stock) look up a registered name
//   hostkit:federation#link        link a remote actor with a local one
//   hostkit:federation#monitor     monitor a local actor from a remote one
//   hostkit:federation#exit        an exit signal to a local actor it is not linked with
//   hostkit:federation#pg-join     announce members of a process group here
//   hostkit:federation#pg-publish  deliver a message to a group's local members
//
// And what a local plugin does to another node's actors (the sending side's
// decision; the receiving node decides again with this node as principal).
// The principal is the Plugin, the resource the target's Node::"<name>":
//
//   hostkit:federation#remote-send     cast to an actor on that node
//   hostkit:federation#remote-call     call an actor on that node
//   hostkit:federation#remote-link     link with an actor on that node
//   hostkit:federation#remote-monitor  monitor an actor on that node
//
// And the host functions of the WIT interface hostkit:federation/remote
// (principal the Plugin, resource the Node; context: the scalar parameters):
//
//   hostkit:federation/remote#node-of  the node of a pid (`target`)
//   hostkit:federation/remote#whereis  look up a name registered on that node
//   hostkit:federation/remote#spawn    start a component on that node
//   hostkit:federation/remote#spawn-monitor  the same, monitored by the caller
//
// And those of hostkit:federation/groups (process groups; principal the
// Plugin, resource the ProcessGroup; context: the group name):
//
//   hostkit:federation/groups#join     the caller joins the group
//   hostkit:federation/groups#leave    the caller leaves it
//   hostkit:federation/groups#members  list its members (on every node)
//   hostkit:federation/groups#publish  message every member

// A process group (Erlang pg), named by its group name. `name` equals the id.
entity ProcessGroup {
  name: String
};

// The resource is the Plugin of the local actor to be linked.
action "hostkit:federation#link" appliesTo {
  principal: [Node],
  resource: [Plugin],
  context: {}
};

// The resource is the Plugin of the local actor to be monitored.
action "hostkit:federation#monitor" appliesTo {
  principal: [Node],
  resource: [Plugin],
  context: {}
};

// Erlang's exit/2 from a remote actor (or host) to a local actor it is not
// linked with; the resource is the target's Plugin. Exit signals over a
// link need no decision (the link was decided).
action "hostkit:federation#exit" appliesTo {
  principal: [Node],
  resource: [Plugin],
  context: {}
};

// `members`: how many memberships the peer announces in one message.
action "hostkit:federation#pg-join" appliesTo {
  principal: [Node],
  resource: [ProcessGroup],
  context: { members: Long }
};

// `size`: payload bytes.
action "hostkit:federation#pg-publish" appliesTo {
  principal: [Node],
  resource: [ProcessGroup],
  context: { size: Long }
};

// `size`: payload bytes.
action "hostkit:federation#remote-send" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: { size: Long }
};

// `size`: payload bytes; `timeout_ms`: the caller's timeout.
action "hostkit:federation#remote-call" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: { size: Long, timeout_ms: Long }
};

action "hostkit:federation#remote-link" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: {}
};

action "hostkit:federation#remote-monitor" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: {}
};

// `target`: the guest's u64 pid (values above 2^63 are refused by Cedar,
// so the call is denied: no node has such pids).
action "hostkit:federation/remote#node-of" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: { target: Long }
};

action "hostkit:federation/remote#whereis" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: { node: String, name: String, timeout_ms: Long }
};

// `args`: the init arguments (a string the guest chose); `link`: spawn_link
// (then hostkit:federation#remote-link is decided too).
action "hostkit:federation/remote#spawn" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: {
    node: String,
    component: String,
    digest: String,
    args: String,
    link: Bool,
    timeout_ms: Long
  }
};

// spawn with a monitor (spawn-monitor): the context is spawn's; then
// hostkit:federation#remote-monitor (and #remote-link with `link`) is
// decided too.
action "hostkit:federation/remote#spawn-monitor" appliesTo {
  principal: [Plugin],
  resource: [Node],
  context: {
    node: String,
    component: String,
    digest: String,
    args: String,
    link: Bool,
    timeout_ms: Long
  }
};

// `group`: the group's name (also the resource's id). A publish's payload
// size is bounded by the host (GuestRemote.MAX_PUBLISH_PAYLOAD), not here.
action "hostkit:federation/groups#join" appliesTo {
  principal: [Plugin],
  resource: [ProcessGroup],
  context: { group: String }
};

action "hostkit:federation/groups#leave" appliesTo {
  principal: [Plugin],
  resource: [ProcessGroup],
  context: { group: String }
};

action "hostkit:federation/groups#members" appliesTo {
  principal: [Plugin],
  resource: [ProcessGroup],
  context: { group: String }
};

action "hostkit:federation/groups#publish" appliesTo {
  principal: [Plugin],
  resource: [ProcessGroup],
  context: { group: String }
};
"""


@dataclass(frozen=True, slots=True)
class LocalActor:
    """A local actor, by id."""

    pid: int


@dataclass(frozen=True, slots=True)
class RegisteredName:
    """A name in the local registry."""

    name: str


@dataclass(frozen=True, slots=True)
class ComponentRef:
    """A loaded component, by name and sha256 digest (hex)."""

    name: str
    digest: str


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A process group."""

    name: str


@dataclass(frozen=True, slots=True)
class ThisNode:
    """This node (the resource of ``connect``)."""

    name: str


Target: TypeAlias = LocalActor | RegisteredName | ComponentRef | GroupRef | ThisNode


class Recorder(Protocol):
    """Where audit records go: an :class:`~hostkit.audit.AuditLog`, or the host."""

    def record(self, event: str, /, **fields: Any) -> Any: ...


class PeerPolicy(Protocol):
    """Decides what a peer may do here. Must not block; should audit."""

    def allows(
        self, peer: NodeId, action: str, target: Target, context: Mapping[str, Any]
    ) -> bool: ...


def federation_schema() -> CedarSchema:
    """The stock schema plus ``capabilities/federation.cedarschema``."""
    from ..capabilities import CedarSchema

    return CedarSchema.stock().extend(SCHEMA_FRAGMENT, origin="capabilities/federation.cedarschema")


class CedarPeerPolicy:
    """A :class:`PeerPolicy` deciding with Cedar and auditing each decision.

    Args:
        authorizer: built with :func:`federation_schema` (or a schema that
            extends it).
        plugin_of_pid: the Plugin entity of a local actor, None if no such actor
            (then the request is denied).
        plugin_of_component: the Plugin entity of a loaded component whose
            digest matches, None otherwise (denied).
        groups_of: Group names the peer belongs to (``principal in Group::"x"``).
        audit: where decisions are recorded (event ``decision``).
    """

    def __init__(
        self,
        authorizer: Authorizer,
        *,
        plugin_of_pid: Callable[[int], Entity | None] = lambda pid: None,
        plugin_of_component: Callable[[str, str], Entity | None] = lambda name, digest: None,
        groups_of: Callable[[str], tuple[str, ...]] = lambda name: (),
        audit: Recorder | None = None,
    ) -> None:
        self._authorizer = authorizer
        self._plugin_of_pid = plugin_of_pid
        self._plugin_of_component = plugin_of_component
        self._groups_of = groups_of
        self._audit = audit

    def _resource(self, target: Target) -> Entity | None:
        from ..capabilities import Entity

        match target:
            case LocalActor(pid=pid):
                return self._plugin_of_pid(pid)
            case RegisteredName(name=name):
                return Entity.name(name)
            case ComponentRef(name=name, digest=digest):
                return self._plugin_of_component(name, digest)
            case GroupRef(name=name):
                return Entity.of("ProcessGroup", name, name=name)
            case ThisNode(name=name):
                return Entity.node(name)

    def allows(self, peer: NodeId, action: str, target: Target, context: Mapping[str, Any]) -> bool:
        from ..capabilities import Entity

        started = time.perf_counter_ns()
        principal = Entity.node(peer.name, self._groups_of(peer.name))
        resource = self._resource(target)
        policies: tuple[str, ...] = ()
        if resource is None:
            allowed, detail = False, f"no such target: {target}"
        else:
            decision = self._authorizer.is_authorized(principal, action, resource, context)
            allowed, policies, detail = decision.allowed, decision.policies, None
            if not allowed:
                detail = decision.reason
        if self._audit is not None:
            self._audit.record(
                "decision",
                actor=f"Node::{peer.name}#{peer.creation:08x}",
                action=action,
                resource=None if resource is None else f'{resource.type}::"{resource.id}"',
                decision="allow" if allowed else "deny",
                policies=list(policies),
                duration_us=(time.perf_counter_ns() - started) // 1000,
                detail=detail,
                peer=peer.name,
            )
        return allowed
