"""The Cedar authorizer: one decision per host call, cached, atomically reloadable.

Theory of operation
-------------------

Everything a decision depends on lives in one immutable `_Snapshot`: the
schema, the compiled policies, and three caches built lazily from them
(decisions, per-request entity sets, per-(principal, action) policy sets).
`Authorizer` holds a reference to the current snapshot. `reload` compiles
and validates the new policies completely and only then swaps that one
reference, so a failed reload changes nothing and a successful one drops
every cache at once: a thread that was mid-decision finishes against the
snapshot it started with and writes into that snapshot's (now unreachable)
cache.

Hot path (cached decision): read the snapshot reference, build the key
``(principal, action, resource, context items, context types, entities)``
and look it up in an `OrderedDict`. No lock: the lookup and the LRU
``move_to_end`` are single C-level operations under the GIL. Inserts and
evictions (miss path only) take the snapshot's lock.

Miss path: policies are partitioned by scope. A policy whose scope says
``principal == T::"id"`` can only apply to that principal, and one saying
``action == Action::"a"`` only to that action; Cedar checks the scope before
the conditions, so leaving such a policy out of requests it cannot match
changes neither the decision nor the reasons nor the errors. Each
(principal, action) pair gets a pre-parsed `cedarpy.PolicySet` of the
policies that can apply, so a decision costs what its own few policies cost,
not the whole set. Entities (the principal with its groups, the resource,
any extras) are pre-parsed per (principal, resource) and reused.

Requests are always evaluated with the schema: a context whose attributes
do not match the action's declaration is refused before any policy runs.
Without that, a mistyped context attribute would make a `forbid` policy
error out, and Cedar skips erroring policies, so the forbid would not apply.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import cedarpy

from .._errors import CapabilityDenied
from ._entities import Entity, PluginIdentity, entity_json, has_stock_shape, resource_problem
from ._policies import CompiledPolicy, PolicyInput, compile_policies, policy_set, read_sources
from ._schema import CedarSchema

Principal = PluginIdentity | Entity
"""A request's principal: a plugin, or an `Entity` such as ``Entity.node(id)``."""

_PARTITION_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one authorization request.

    Attributes:
        allowed: whether the call may proceed.
        policies: ids of the policies that determined the outcome: the
            permits that matched when allowed, the forbids that matched when
            denied by a forbid, empty when denied because nothing permits it.
        errors: problems Cedar met: an invalid request (e.g. a context that
            does not match the schema) or a policy that failed to evaluate.
    """

    allowed: bool
    policies: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """One line for logs and error messages."""
        if self.allowed:
            return "permitted by " + ", ".join(self.policies)
        if self.policies:
            text = "forbidden by " + ", ".join(self.policies)
        elif self.errors:
            text = "denied: invalid request"
        else:
            text = "no policy permits it (deny by default)"
        if self.errors:
            text += " [" + "; ".join(self.errors) + "]"
        return text


class Authorizer:
    """Decides host calls with Cedar policies validated against a schema.

    Thread-safe: scheduler threads may call `is_authorized` concurrently
    with each other and with `reload`.

    Args:
        policies: Cedar text, ``.cedar`` files or directories (as
            `pathlib.Path`), `PolicyText` or shorthand `Grant` objects.
            Empty means every call is denied.
        schema: the schema policies and requests are validated against;
            defaults to `CedarSchema.stock()`.
        cache_size: how many decisions to keep (least recently used go first).

    Raises:
        PolicyError: a policy does not parse or fails validation; the
            message names each offending policy and its file:line:column.
    """

    def __init__(
        self,
        policies: Iterable[PolicyInput] | PolicyInput = (),
        *,
        schema: CedarSchema | None = None,
        cache_size: int = 16384,
    ) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        self._cache_size = cache_size
        self._reload_lock = threading.Lock()
        self._snapshot = _Snapshot.build(
            read_sources(policies), schema or CedarSchema.stock(), cache_size, generation=1
        )

    # ------------------------------------------------------------------ queries

    def is_authorized(
        self,
        principal: Principal,
        action: str,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
        entities: tuple[Entity, ...] = (),
    ) -> Decision:
        """Decide whether ``principal`` may do ``action`` on ``resource``.

        Args:
            principal: the calling plugin's `PluginIdentity` (or an `Entity`,
                e.g. a remote ``Entity.node(...)``).
            action: the action id, e.g. ``"hostkit:host/files#read"``.
            resource: what the call touches, e.g. ``Entity.file(path)``.
            context: the call's arguments policies may constrain; must have
                exactly the attributes the schema declares for ``action``.
            entities: extra entities the policies need (e.g. a resource's
                parents), as a tuple so it can be part of the cache key.

        Returns:
            The `Decision`. Never raises for a denial or an invalid request:
            those are denied decisions whose ``errors`` say why.
        """
        snapshot = self._snapshot
        cache = snapshot.decisions
        # True == 1 == 1.0 in Python but not in Cedar: every part of the key
        # keeps types apart at every depth (see _freeze and _entity_key).
        attrs = resource.attrs
        if not attrs or (len(attrs) == 1 and type(attrs[0][1]) is str):
            res_key: Any = resource  # what _entity_key says, without the call
        else:
            res_key = _entity_key(resource)
        ent_key = tuple(map(_entity_key, entities)) if entities else ()
        who_key = principal if type(principal) is not Entity else _entity_key(principal)
        if context:
            types = tuple(map(type, context.values()))
            if _FLAT.issuperset(types):
                key: tuple[Any, ...] = (
                    who_key,
                    action,
                    res_key,
                    tuple(context.items()),
                    types,
                    ent_key,
                )
            else:  # nested values: sets, records, lists
                key = (who_key, action, res_key, _freeze(context), (), ent_key)
            try:
                decision = cache.get(key)
            except TypeError:  # an unhashable value _freeze does not know
                decision, key = None, ()
        else:
            key = (who_key, action, res_key, (), (), ent_key)
            decision = cache.get(key)
        if decision is not None:
            # contextlib.suppress would cost more than the whole lookup.
            try:  # noqa: SIM105
                cache.move_to_end(key)
            except KeyError:  # evicted by another thread just now
                pass
            return decision
        decision = snapshot.decide(principal, action, resource, context or {}, entities)
        if key:
            snapshot.remember(key, decision)
        return decision

    def check(
        self,
        principal: Principal,
        action: str,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
        entities: tuple[Entity, ...] = (),
    ) -> Decision:
        """Like `is_authorized`, but raise when the call is denied.

        Raises:
            CapabilityDenied: the decision is a denial; the message names
                principal, action, resource and the reason.
        """
        decision = self.is_authorized(principal, action, resource, context, entities)
        if not decision.allowed:
            raise CapabilityDenied(
                f"{principal.uid} may not {action} on {resource.uid}: {decision.reason}"
            )
        return decision

    # ---------------------------------------------------------------- reloading

    def reload(
        self,
        policies: Iterable[PolicyInput] | PolicyInput,
        *,
        schema: CedarSchema | None = None,
    ) -> None:
        """Replace the policy set (and optionally the schema) atomically.

        The new policies are parsed and validated in full before anything
        changes. On success every cached decision is dropped; decisions
        already under way finish against the old set.

        Raises:
            PolicyError: the new set is invalid; the old set stays in force
                and its cache is kept.
        """
        with self._reload_lock:
            current = self._snapshot
            self._snapshot = _Snapshot.build(
                read_sources(policies),
                schema or current.schema,
                self._cache_size,
                generation=current.generation + 1,
            )

    def clear_cache(self) -> None:
        """Drop cached decisions, entity sets and policy partitions."""
        with self._reload_lock:
            current = self._snapshot
            self._snapshot = _Snapshot(
                current.schema, current.policies, self._cache_size, current.generation
            )

    # --------------------------------------------------------------- inspection

    @property
    def schema(self) -> CedarSchema:
        """The schema in force."""
        return self._snapshot.schema

    @property
    def policy_ids(self) -> tuple[str, ...]:
        """Ids of the policies in force, in load order."""
        return tuple(p.id for p in self._snapshot.policies)

    @property
    def generation(self) -> int:
        """1 after construction, incremented by each successful `reload`."""
        return self._snapshot.generation

    @property
    def digest(self) -> str:
        """sha256 over the policy texts in force (for audit records of loads)."""
        return self._snapshot.digest

    @property
    def cached_decisions(self) -> int:
        """How many decisions are cached right now."""
        return len(self._snapshot.decisions)

    def permitted_actions(self, principal: Principal) -> frozenset[str] | None:
        """The actions some ``permit`` policy could allow ``principal``.

        An over-approximation from the policies' scopes alone (conditions
        and forbids are not considered), for load-time checks such as
        "this component imports a function no policy can ever allow" and
        for `CallContext.grants`. Group membership is the principal's direct
        groups, as the gate supplies them.

        Returns:
            The action ids, or ``None`` when a policy that may apply leaves
            the action open (or names an action group), so any action might
            be permitted.
        """
        entity = principal.entity if isinstance(principal, PluginIdentity) else principal
        snapshot = self._snapshot
        actions: set[str] = set()
        for policy in snapshot.policies:
            if policy.est["effect"] != "permit" or not _scope_may_match(policy.est, entity):
                continue
            if policy.action_keys is None or (
                policy.action_in and snapshot.schema.has_action_groups
            ):
                return None
            actions.update(policy.action_keys)
        return frozenset(actions)

    def reads_context(self, action: str) -> bool:
        """Whether some policy that may apply to ``action`` reads ``context``.

        When none does, the decision for ``action`` cannot depend on the
        call's context, so a caller may reuse it across contexts (the gate
        does for messaging, whose context is the payload size). Conservative:
        a condition naming ``context`` anywhere counts.
        """
        snapshot = self._snapshot
        groups = snapshot.schema.has_action_groups
        for policy in snapshot.policies:
            keys = policy.action_keys
            if keys is not None and action not in keys and not (policy.action_in and groups):
                continue
            if '"Var": "context"' in json.dumps(policy.est.get("conditions", ())):
                return True
        return False

    def to_cedar(self) -> str:
        """The policies in force as Cedar text, each with its origin."""
        return "\n\n".join(
            f"// {p.origin}:{p.line}:{p.column}\n{p.text}" for p in self._snapshot.policies
        )


class _Snapshot:
    """One immutable policy set and the caches derived from it."""

    def __init__(
        self,
        schema: CedarSchema,
        policies: tuple[CompiledPolicy, ...],
        cache_size: int,
        generation: int,
    ) -> None:
        self.schema = schema
        self.policies = policies
        self.generation = generation
        self.cache_size = cache_size
        self.digest = hashlib.sha256("\0".join(p.text for p in policies).encode()).hexdigest()
        self.decisions: OrderedDict[tuple[Any, ...], Decision] = OrderedDict()
        self.entity_sets: OrderedDict[tuple[Any, ...], cedarpy.Entities] = OrderedDict()
        self.partitions: dict[tuple[str, str, str], cedarpy.PolicySet] = {}
        self.bases: dict[Entity, cedarpy.Entities] = {}
        self._stock_schema = schema.extends_stock
        self.lock = threading.Lock()
        self._schema_handle = schema.handle
        self._by_scope: dict[tuple[tuple[str, str] | None, str | None], list[int]] = {}
        for index, policy in enumerate(policies):
            actions: tuple[str | None, ...] | None = policy.action_keys
            if actions is None or (policy.action_in and schema.has_action_groups):
                actions = (None,)
            for action in actions:
                scope = (policy.principal_key, action)
                self._by_scope.setdefault(scope, []).append(index)

    @classmethod
    def build(
        cls,
        sources: Sequence[tuple[str, str]],
        schema: CedarSchema,
        cache_size: int,
        generation: int,
    ) -> _Snapshot:
        policies = compile_policies(sources, schema)
        policy_set(policies)  # the whole set must build before it replaces anything
        return cls(schema, policies, cache_size, generation)

    def remember(self, key: tuple[Any, ...], decision: Decision) -> None:
        with self.lock:
            self.decisions[key] = decision
            if len(self.decisions) > self.cache_size:
                self.decisions.popitem(last=False)

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: Entity,
        context: Mapping[str, Any],
        extra: tuple[Entity, ...],
    ) -> Decision:
        principal_entity = principal.entity if isinstance(principal, PluginIdentity) else principal
        problem = resource_problem(resource)
        if problem is not None:
            return Decision(False, (), (problem,))
        try:
            entities = self._entities(principal_entity, resource, extra)
        except ValueError as exc:
            return Decision(False, (), (f"invalid entities: {exc}",))
        request = {
            "principal": {"type": principal_entity.type, "id": principal_entity.id},
            "action": {"type": "Action", "id": action},
            "resource": {"type": resource.type, "id": resource.id},
            "context": _context_json(context),
        }
        policies = self._partition(principal_entity.type, principal_entity.id, action)
        try:
            result = cedarpy.is_authorized(request, policies, entities, self._schema_handle)
        except (TypeError, ValueError) as exc:  # e.g. a context value JSON cannot hold
            return Decision(False, (), (f"invalid request: {exc}",))
        diagnostics = result.diagnostics
        return Decision(result.allowed, tuple(diagnostics.reasons), tuple(diagnostics.errors))

    def _partition(self, principal_type: str, principal_id: str, action: str) -> cedarpy.PolicySet:
        key = (principal_type, principal_id, action)
        found = self.partitions.get(key)
        if found is None:
            scopes = self._by_scope
            indexes = sorted(
                {
                    index
                    for scope in (
                        ((principal_type, principal_id), action),
                        ((principal_type, principal_id), None),
                        (None, action),
                        (None, None),
                    )
                    for index in scopes.get(scope, ())
                }
            )
            found = policy_set(self.policies[i] for i in indexes)
            if len(self.partitions) >= _PARTITION_LIMIT:
                self.partitions.clear()
            self.partitions[key] = found
        return found

    def _entities(
        self, principal: Entity, resource: Entity, extra: tuple[Entity, ...]
    ) -> cedarpy.Entities:
        # Type-exact, as the decision keys: flag=1 must not reuse flag=True's set.
        who = _entity_key(principal)
        key = (who, _entity_key(resource), tuple(map(_entity_key, extra)))
        found = self.entity_sets.get(key)
        if found is not None:
            return found
        base = self.bases.get(who)
        if base is None:
            base = cedarpy.Entities.from_json_str(
                json.dumps([entity_json(principal)]), self._schema_handle
            )
            if len(self.bases) >= _PARTITION_LIMIT:
                self.bases.clear()
            self.bases[who] = base
        members = [principal]
        for entity in (resource, *extra):
            if all(entity[:2] != m[:2] for m in members):
                members.append(entity)
        found = base
        if len(members) > 1:
            # Stock resources built by the Entity constructors always conform
            # to the stock schema; validating them again would double the
            # cost of a new resource.
            trusted = not extra and self._stock_schema and has_stock_shape(resource)
            found = base.with_added_json_str(
                json.dumps([entity_json(e) for e in members[1:]]),
                None if trusted else self._schema_handle,
            )
        with self.lock:
            self.entity_sets[key] = found
            if len(self.entity_sets) > self.cache_size:
                self.entity_sets.popitem(last=False)
        return found


def _scope_may_match(est: Mapping[str, Any], principal: Entity) -> bool:
    scope = est["principal"]
    op = scope.get("op")
    if op == "All":
        return True
    if op == "is":
        if scope["entity_type"] != principal.type:
            return False
        scope = scope.get("in")
        if scope is None:
            return True
    uid = scope.get("entity")
    if uid is None:  # a slot: templates are rejected at load, so be generous
        return True
    key = (uid["type"], uid["id"])
    return key == principal[:2] or (op != "==" and key in principal.parents)


def _context_json(context: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in context.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted((_json_value(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    return value


_FLAT: Final = frozenset({str, int, bool})


def _freeze(value: Any) -> Any:
    """A hashable, type-preserving stand-in for a context or attribute value:
    two values get equal stand-ins only if Cedar sees them as equal and of one
    type (``True`` and ``1`` never share one, at any depth)."""
    if isinstance(value, Mapping):
        return ("record", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, set | frozenset):
        return ("set", frozenset(_freeze(v) for v in value))
    if isinstance(value, list | tuple):
        return ("list", tuple(_freeze(v) for v in value))
    if isinstance(value, Entity):
        return _entity_key(value)
    return (type(value), value)


def _entity_key(entity: Entity) -> Any:
    """``entity`` itself when its attributes are all ``str`` or ``int``
    (plain equality is then Cedar's), else a type-exact stand-in."""
    for _, value in entity.attrs:
        kind = type(value)
        if kind is not str and kind is not int:
            return (
                "typed-entity",
                entity.type,
                entity.id,
                tuple((name, _freeze(v)) for name, v in entity.attrs),
                entity.parents,
            )
    return entity
