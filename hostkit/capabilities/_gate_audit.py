"""The gate's audit records: what `Gate` writes, allow or deny, and how.

Theory of operation
-------------------
Every decision the gate makes (a host call's, a `ProcessGate` check's) is
written here before the call may run: if the log cannot take the record,
the call is denied (nothing unaudited happens). Denials pass through
`DenialStorms` first: past a rate per (plugin, action) they are counted and
later written as one ``denials-suppressed`` record, and an actor past its
denial budget is ended. An allowed call's record without decision errors
takes the fast path, `_audit_allowed`: encoded from parts encoded once per
plugin, action and decision and written with `AuditLog.record_encoded`, the
same line `_audit_decision` (through `AuditLog.record`) would write
(``tests/test_gate_fastpath.py``). Every record written is also handed to
the ``audit_record`` hooks, as a read-only mapping.

`GateAudit` is a mixin of `Gate`; the state it reads is `Gate`'s, set up
by ``Gate.__init__`` and ``Gate._fresh_caches``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec

from .._errors import AuditError, CapabilityDenied
from .._text import DEFAULT_MAX_CHARS
from ..audit._record import encode_value, inert_value
from ._entities import Entity

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..audit import AuditLog
    from ..runtime._actors import Actor
    from ._authorizer import Decision
    from ._context import CallContext
    from ._gate import _Who
    from ._host_errors import HostCallError, HostCallQuotaExceeded
    from ._limits import DenialStorms

__all__ = ["GateAudit"]

log = logging.getLogger("hostkit.capabilities")

_REMEMBER_LIMIT: Final = 65536
_now_ns = time.perf_counter_ns


class GateAudit:
    """`Gate`'s audit writing: records, denial storms, the per-call fast path."""

    audit: AuditLog
    _storms: DenialStorms
    _audit_hook: Any  # pluggy's HookCaller for ``audit_record``
    _audit_impls: list[Any] | None  # its hookimpls, the list pluggy updates in place
    _contexts_by_actor: dict[int, tuple[CallContext, str, bytes]]
    _action_json: dict[str, bytes]
    _policies_json: dict[tuple[str, ...], bytes]
    _end_denied: Callable[[Actor, str], None]

    def record(self, event: str, /, **fields: Any) -> dict[str, Any]:
        """Write one audit record and hand it to the ``audit_record`` hooks.
        Denial summaries that fell due are written first.

        Raises:
            AuditError: the log refused it (see `AuditLog.record`).
        """
        if event == "exit" and "actor" in fields:
            self._storms.forget_actor(str(fields["actor"]))
        self._write_summaries(self._storms.due())
        return self._write(event, fields)

    def flush_denials(self) -> None:
        """Write a ``denials-suppressed`` record for every denial counted but
        not yet reported (e.g. before closing the audit log).

        Raises:
            AuditError: the log refused a record.
        """
        self._write_summaries(self._storms.due(everything=True))

    def _write_summaries(self, due: list[tuple[str, str, int]]) -> None:
        for plugin, action, count in due:
            self._write(
                "denials-suppressed",
                {
                    "plugin": plugin,
                    "action": action,
                    "decision": "deny",
                    "suppressed": count,
                    "detail": f"{count} more denials of {action} for {plugin} "
                    "were counted, not recorded one by one (denial storm)",
                },
            )

    def _write(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        record = self.audit.record(event, **fields)
        if self._audit_hook.get_hookimpls():
            self._hand_to_hooks(record)
        return record

    def _hand_to_hooks(self, record: dict[str, Any]) -> None:
        try:
            self._audit_hook(record=MappingProxyType(record))
        except Exception:
            log.exception("an audit_record hookimpl failed on seq %s", record.get("seq"))

    def _on_lifecycle(self, event: str, actor: Actor, detail: str) -> None:
        if event == "exit":
            self._contexts_by_actor.pop(actor.id, None)
        self.record(event, actor=str(actor.pid), plugin=actor.component.name, detail=detail or None)

    def _quota_record(self, action: str, ctx: CallContext, exc: HostCallQuotaExceeded) -> None:
        found = self._contexts_by_actor.get(ctx.pid)
        try:
            self.record(
                "quota",
                actor=found[1] if found is not None else str(ctx.pid),
                plugin=ctx.plugin,
                action=action,
                detail=exc.detail,
            )
        except AuditError as err:
            log.error("could not audit a quota refusal of %s for %s: %s", action, ctx.plugin, err)

    def _refused(
        self,
        action: str,
        caller: str,
        who: _Who,
        resource: Entity | None,
        why: HostCallError,
        started: int,
        decision: Decision | None = None,
    ) -> None:
        # A denial whose record fails is still a denial: log and go on.
        try:
            self._audit_decision(action, caller, who, resource, decision, started, str(why))
        except AuditError as exc:
            log.error("could not audit a denial of %s for %s: %s", action, who.name, exc)
        if self._storms.actor_exhausted(caller):
            # Past its denial budget the actor is probing, not working: end it.
            raise CapabilityDenied(
                f"actor {caller} of plugin {who.name!r} exceeded its denial budget "
                f"({why}); ended with reason denied"
            )

    def _audit_decision(
        self,
        action: str,
        caller: str,
        who: _Who,
        resource: Entity | None,
        decision: Decision | None,
        started: int,
        denied: str | None,
    ) -> None:
        allowed = denied is None
        if not allowed:
            write, suppressed = self._storms.admit(who.name, action)
            if suppressed:
                self._write_summaries([(who.name, action, suppressed)])
            if not write:
                return
        # The policies that decided: the permits of an allow, the forbids of a
        # Cedar denial; none when a limit or a malformed argument refused.
        decided = decision is not None and decision.allowed == allowed
        policies = decision.policies if decided and decision is not None else ()
        self.record(
            "decision",
            actor=caller,
            plugin=who.name,
            action=action,
            resource=None if resource is None else _uid(resource),
            decision="allow" if allowed else "deny",
            policies=list(policies),
            duration_us=(_now_ns() - started) // 1000,
            detail=denied,
            errors=list(decision.errors) if decision is not None and decision.errors else None,
        )

    def _audit_allowed(
        self,
        action: str,
        caller: str,
        who: _Who,
        resource: Entity,
        decision: Decision,
        started: int,
    ) -> None:
        """What `_audit_decision` writes for an allowed call without decision
        errors, through the log's fast path: the per-call record.
        ``tests/test_gate_fastpath.py`` proves the two lines byte-identical."""
        self._write_allowed(
            encode_value(caller), self._record_tail(action, who, resource, decision), started
        )

    def _record_tail(self, action: str, who: _Who, resource: Entity, decision: Decision) -> bytes:
        """An allowed call's record fields after ``"actor"``, as `prepare_fields`
        and the log would encode them (in order, strings inert), up to the
        duration's value: from parts encoded once per plugin, action and
        decision, and the resource (the guest's text, made inert)."""
        action_json = self._action_json.get(action)
        if action_json is None:
            action_json = self._action_json[action] = encode_value(inert_value(action))
        policies = self._policies_json.get(decision.policies)
        if policies is None:
            if len(self._policies_json) >= _REMEMBER_LIMIT:
                self._policies_json.clear()
            policies = self._policies_json[decision.policies] = encode_value(
                inert_value(list(decision.policies))
            )
        return (
            b'"plugin":%s,"action":%s,"resource":%s,"decision":"allow","policies":%s,'
            b'"duration_us":'
            % (who.json, action_json, encode_value(_resource_text(resource)), policies)
        )

    def _write_allowed(self, caller_json: bytes, tail: bytes, started: int) -> None:
        """Write an allowed call's record: ``"actor"`` (``caller_json``), the
        ``tail`` from `_record_tail`, and the duration since ``started``.

        Raises:
            AuditError: the log refused it.
        """
        fields = b'"actor":%s,%s%d' % (caller_json, tail, (_now_ns() - started) // 1000)
        if self._storms.has_pending():
            self._write_summaries(self._storms.due())
        line = self.audit.record_encoded(b'"decision"', fields)
        impls = self._audit_impls
        if impls or (impls is None and self._audit_hook.get_hookimpls()):
            self._hand_to_hooks(msgspec.json.decode(line))


def _uid(entity: Entity) -> str:
    """``entity.uid``, without Cedar's per-character escaping when the id
    needs none (printable, no quote or backslash): the common case, per call."""
    ident = entity.id
    if ident.isprintable() and '"' not in ident and "\\" not in ident:
        return f'{entity.type}::"{ident}"'
    return entity.uid


def _resource_text(entity: Entity) -> str:
    """``inert_value(_uid(entity))``: the resource as the audit log writes it."""
    uid = _uid(entity)
    if len(uid) <= DEFAULT_MAX_CHARS and uid.isprintable() and "\\" not in uid:
        return uid  # the common case, no copy
    return cast("str", inert_value(uid))
