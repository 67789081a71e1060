"""The gate's `ProcessGate` checks: what guests do to other actors.

Theory of operation
-------------------
Messaging, spawning, links, monitors, ``process.log`` and names are gated
like host calls through the scheduler's `ProcessGate` checks (see
`check_send`): a Cedar decision, the limits for an allowed one, and an
audit record (`GateAudit`), allow or deny. Sends are the hottest path in
hostkit, so a permitted (sender component, target component) pair is
remembered until the next policy reload when no policy for the action
reads ``context``. Every message is still audited (the issue's and DESIGN
§5's rule: the log records each call); an operator who accepts a log that
records only the first permitted message per pair can pass
``audit_every_message=False`` for speed. Denials are audited every time.

A guest's signal to another node's actor is decided here too, before it
leaves this host (the receiving node decides again, with this node as the
principal): the actions ``hostkit:federation#remote-send``,
``#remote-call``, ``#remote-link`` and ``#remote-monitor``, with the
resource ``Node::"<the target's node>"``. They are declared in
``capabilities/federation.cedarschema``: with the stock schema alone they
are always denied.

`ProcessChecks` is a mixin of `Gate`; the state it reads is `Gate`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .._errors import AuditError
from .._pid import Pid
from ._entities import Entity
from ._gate_audit import _REMEMBER_LIMIT, GateAudit, _now_ns, log

if TYPE_CHECKING:
    from ..runtime._actors import Actor
    from ..runtime._wasm import CompiledComponent
    from ._authorizer import Authorizer
    from ._gate import _Who
    from ._limits import CallLimits

__all__ = ["ProcessChecks"]

SEND: Final = "hostkit:plugin/process#send"
CALL: Final = "hostkit:plugin/process#call"
SPAWN: Final = "hostkit:plugin/process#spawn"
REGISTER: Final = "hostkit:plugin/process#register"
WHEREIS: Final = "hostkit:plugin/process#whereis"
LINK: Final = "hostkit:plugin/process#link"
MONITOR: Final = "hostkit:plugin/process#monitor"
LOG: Final = "hostkit:plugin/process#log"
REMOTE_SEND: Final = "hostkit:federation#remote-send"
REMOTE_CALL: Final = "hostkit:federation#remote-call"
REMOTE_LINK: Final = "hostkit:federation#remote-link"
REMOTE_MONITOR: Final = "hostkit:federation#remote-monitor"
_NAME_ACTIONS: Final = {"register": REGISTER, "whereis": WHEREIS}


class ProcessChecks(GateAudit):
    """`Gate`'s `ProcessGate` side: sends, calls, spawns, links, monitors,
    log lines and names, decided, limited and audited."""

    authorizer: Authorizer
    limits: CallLimits
    _audit_every_message: bool
    _process_ok: dict[tuple[Any, ...], bool]
    _reads_context: dict[str, bool]
    _who_of: Callable[[CompiledComponent], _Who]

    # Sends and calls, from `process` imports and outbox frames alike (the
    # router asks the same check for both), count against `CallLimits` like
    # any host call: a remembered decision skips Cedar, never the limits.

    def check_send(self, sender: Actor, target: Actor, size: int) -> str | None:
        """Whether ``sender`` may send ``size`` bytes to ``target``: None, or why not."""
        key = (SEND, sender.component, target.component)
        if key in self._process_ok:
            return self.limits.check(sender.component.name, SEND, size)
        return self._check_target(SEND, sender, target.component, {"size": size}, key, size)

    def check_call(self, sender: Actor, target: Actor, size: int, timeout_ms: int) -> str | None:
        """Whether ``sender`` may call ``target``: None, or why not."""
        key = (CALL, sender.component, target.component)
        if key in self._process_ok:
            return self.limits.check(sender.component.name, CALL, size)
        context = {"size": size, "timeout_ms": timeout_ms}
        return self._check_target(CALL, sender, target.component, context, key, size)

    def check_spawn(self, parent: Actor, component: CompiledComponent, size: int) -> str | None:
        """Whether ``parent`` may spawn ``component``: None, or why not."""
        return self._check_target(SPAWN, parent, component, {"size": size}, None, size=size)

    def check_link(self, actor: Actor, target: Actor) -> str | None:
        """Whether ``actor`` may link to ``target`` (and so end it, or be
        ended by it, through exit signals): None, or why not."""
        return self._check_target(LINK, actor, target.component, {}, None)

    def check_monitor(self, actor: Actor, target: Actor) -> str | None:
        """Whether ``actor`` may monitor ``target``: None, or why not."""
        return self._check_target(MONITOR, actor, target.component, {}, None)

    def check_log(self, actor: Actor, level: str, size: int) -> str | None:
        """Whether ``actor`` may write a ``size``-byte ``process.log`` line:
        decided, rate-limited and payload-capped like a host function."""
        who = self._who_of(actor.component)
        context = {"level": level, "size": size}
        return self._decide(LOG, actor, who.entity, context, None, size)

    def check_remote_send(self, sender: Actor, target: Pid, size: int) -> str | None:
        """Whether ``sender`` may send ``size`` bytes to ``target``, an actor
        of another node (resource ``Node::"<node>"``): None, or why not."""
        key = (REMOTE_SEND, sender.component, target.node)
        if key in self._process_ok:
            return self.limits.check(sender.component.name, REMOTE_SEND, size)
        node = Entity.node(target.node)
        return self._decide(REMOTE_SEND, sender, node, {"size": size}, key, size)

    def check_remote_call(
        self, sender: Actor, target: Pid, size: int, timeout_ms: int
    ) -> str | None:
        """Whether ``sender`` may call ``target``, an actor of another node."""
        key = (REMOTE_CALL, sender.component, target.node)
        if key in self._process_ok:
            return self.limits.check(sender.component.name, REMOTE_CALL, size)
        context = {"size": size, "timeout_ms": timeout_ms}
        return self._decide(REMOTE_CALL, sender, Entity.node(target.node), context, key, size)

    def check_remote_link(self, actor: Actor, target: Pid) -> str | None:
        """Whether ``actor`` may link to ``target``, an actor of another node."""
        return self._decide(REMOTE_LINK, actor, Entity.node(target.node), {}, None, None)

    def check_remote_monitor(self, actor: Actor, target: Pid) -> str | None:
        """Whether ``actor`` may monitor ``target``, an actor of another node."""
        return self._decide(REMOTE_MONITOR, actor, Entity.node(target.node), {}, None, None)

    def check_name(self, actor: Actor, action: str, name: str) -> str | None:
        """Whether ``actor`` may ``register`` or look up (``whereis``) ``name``."""
        full = _NAME_ACTIONS[action]
        key = (full, actor.component, name) if action == "whereis" else None
        if key is not None and key in self._process_ok:
            return None
        return self._decide(full, actor, Entity.name(name), {}, key, None)

    def _check_target(
        self,
        action: str,
        actor: Actor,
        target: CompiledComponent,
        context: Mapping[str, Any],
        key: tuple[Any, ...] | None,
        size: int | None = None,
    ) -> str | None:
        return self._decide(action, actor, self._who_of(target).entity, context, key, size)

    def _decide(
        self,
        action: str,
        actor: Actor,
        resource: Entity,
        context: Mapping[str, Any],
        key: tuple[Any, ...] | None,
        size: int | None,
    ) -> str | None:
        remember = self._process_ok  # before deciding: see _fresh_caches
        started = _now_ns()
        who = self._who_of(actor.component)
        decision = self.authorizer.is_authorized(who.identity, action, resource, context)
        why: str | None = None
        if not decision.allowed:
            why = f"{who.identity.uid} may not {action} on {resource.uid}: {decision.reason}"
        elif size is not None:
            why = self.limits.check(who.name, action, size)
        caller = str(actor.pid)
        try:
            self._audit_decision(action, caller, who, resource, decision, started, why)
        except AuditError as exc:
            log.error("denied %s for %s: %s", action, who.name, exc)
            return f"the audit log is unavailable: {exc}"
        if why is not None and self._storms.actor_exhausted(caller):
            self._end_denied(
                actor,
                f"actor {caller} of plugin {who.name!r} exceeded its denial budget ({why})",
            )
        if why is None and key is not None and not self._audit_every_message:
            reads = self._reads_context.get(action)
            if reads is None:
                reads = self._reads_context[action] = self.authorizer.reads_context(action)
            if not reads:
                if len(remember) >= _REMEMBER_LIMIT:  # whereis keys include guest-chosen names
                    remember.clear()
                remember[key] = True
        return why
