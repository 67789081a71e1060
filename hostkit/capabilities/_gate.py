"""The capability gate: a Cedar decision and an audit record in front of
every host call, inside the dispatcher.

Theory of operation
-------------------
`Gate.resolve` is the runtime's import resolver. For each WIT function a
component imports that the runtime does not implement itself, it finds the
pluggy hook of the same name (``acme:game/world#spawn-monster`` ->
``world_spawn_monster``, see ``_hookspecs``), checks at load that a hookspec
and at least one hookimpl exist and that the hookspec's parameters are the
WIT function's, and returns the function the runtime calls. A refusal raises
``ImportRefused``, which the load error names with the reason.

Per call that function runs, on a scheduler thread, in this order:

1. who: the calling actor's plugin identity (name, the component's digest,
   version/publisher/groups from the host's configuration), cached per
   loaded component;
2. what: the arguments adapted for the hook (``_host_types`` records and
   enums for the stock interfaces), then the Cedar resource, context and
   payload size derived from them (``_callsites`` for ``hostkit:host``; the
   ``hostkit_resource`` hook and the scalar arguments for an application's
   functions). A malformed argument (a ``..`` path) is refused here;
3. the Cedar decision (cached by the `Authorizer`), then the rate limit and
   payload cap (`CallLimits`) for an allowed call;
4. the audit record, allow or deny, with the policies that decided. If the
   log cannot take it, the call is denied: nothing unaudited happens. An
   allowed call's record (the per-call one) is encoded here from parts
   encoded once per plugin, action and decision, and written with
   `AuditLog.record_encoded`: the same line `AuditLog.record` would write
   (``tests/test_gate_fastpath.py``), without re-checking host-made fields;
   the resource, the guest's text, is made inert per call;
5. only if allowed: the hook, with a `CallContext`. Its value becomes the
   WIT ``ok``; a raised `HostCallError` becomes the WIT ``error``. An async
   hook (every hookimpl a Trio coroutine function) is not called here: the
   host function returns an awaitable that runs it on the Trio loop and
   converts its outcome the same way (``_gate_async``).

Steps 2 and 3 are remembered for a stock call whose arguments are all short
scalars (`_Admitted`, at most ``_MEMO_LIMIT`` across the host): its
resource, payload size and allowed decision are a pure function of the
plugin, the function and those arguments, so a repeat skips to the limits
and the record. The memory is dropped with the policy snapshot it was
decided under; denials are never remembered.

A denial returns the function's WIT error (``error.denied(reason)``) where
its result type has one; otherwise the actor ends with reason ``denied``.
The hook never runs for a denied call.

Messaging, spawning and names are gated the same way through the
scheduler's `ProcessGate` checks (see `check_send`), in ``_gate_process``;
the audit records of both, and the fast path of step 4, are ``_gate_audit``'s.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, cast

import pluggy

from .._errors import AuditError, CapabilityDenied
from ..audit import AuditLog
from ..audit._record import encode_value, inert_value
from ..runtime._wasm import ImportMistyped, ImportRefused, describe_func
from ..runtime._wittypes import WitFunc, WitType
from . import _hookspecs
from ._authorizer import Authorizer
from ._binding import STOCK_SIGNATURES, Binding, RateLimited, TooLarge, action_of, hook_name_of
from ._callsites import STOCK_PACKAGE, STOCK_SITES, Derive
from ._context import CallContext
from ._entities import Entity, PluginIdentity
from ._gate_async import CoroutineType, hook_kind, late_async_refusal, run_async
from ._gate_audit import _now_ns
from ._gate_process import ProcessChecks
from ._host_errors import (
    HostCallDenied,
    HostCallError,
    HostCallQuotaExceeded,
    HostCallUnsupported,
)
from ._limits import CallLimits, DenialLimits, DenialStorms
from ._policies import PolicyInput, PolicySource
from ._schema import CedarSchema
from ._witvalues import lift, snake, supported

if TYPE_CHECKING:
    from ..runtime._actors import Actor
    from ..runtime._host import Host
    from ..runtime._wasm import CompiledComponent, Instance

__all__ = ["Gate"]

log = logging.getLogger("hostkit.capabilities")

_SCALARS: Final = frozenset(
    {"bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64", "string"}
)
_PASS_THROUGH: Final = _SCALARS | {"f32", "f64", "char", "enum", "flags"}
# Stock calls are remembered decided when every argument is a scalar and
# every string at most this long (so a lookup hashes little), at most
# _MEMO_LIMIT of them at once across the host (so they hold little).
_MEMO_KINDS: Final = _SCALARS | {"char", "enum"}
_MEMO_CHARS: Final = 256
_MEMO_LIMIT: Final = 4096


class _Who:
    """A loaded component as a principal, with what calls need of it."""

    __slots__ = ("entity", "grants", "identity", "json", "name")

    def __init__(self, identity: PluginIdentity, grants: frozenset[str]) -> None:
        self.identity = identity
        self.name = identity.name
        self.entity = identity.entity
        self.grants = grants
        self.json = encode_value(inert_value(identity.name))  # as the audit log writes it


class Gate(ProcessChecks):
    """The capability gate: pass it to ``hostkit.open_host(capabilities=...)``.

    Every host function a component imports is bound to the pluggy hook of
    the same name; each call is decided (Cedar, rate limit, payload cap) and
    recorded in the audit log before the hook runs. A hook's hookimpls may
    be sync (run on the scheduler thread) or all ``async def`` Trio
    coroutine functions (awaited on the host's Trio loop, see
    ``docs/host-functions.md``); a mix is refused when a component binding
    it is loaded.

    Args:
        plugins: the pluggy plugin manager (project ``"hostkit"``) with the
            providers the host offers registered as ordinary plugins; the
            stock hookspecs are added if missing, an application adds its own.
        policies: Cedar policies: text (a ``str`` is always policy text),
            ``pathlib.Path`` to ``.cedar`` files or directories, shorthand
            grants. Empty means every gated call is denied.
        policy_files: more ``.cedar`` files or directories, as ``str`` or
            ``Path`` (loaded after ``policies``).
        schema: the Cedar schema, with the application's fragments.
        authorizer: an `Authorizer` to use instead of ``policies``/``schema``.
        limits: rate limits and payload caps; defaults to `CallLimits()`.
        audit: the audit log; by default one without sinks (records still
            reach `hostkit.testing.capture_audit` and ``audit_record`` hooks).
        identities: plugin (component) name -> `PluginIdentity` carrying the
            version, publisher and groups policies see. The digest is always
            the loaded component's own, whatever the entry says.
        contexts: an application action -> the parameters (snake_case) put
            into its Cedar context; by default every bool, integer and
            string parameter. Must match the action's schema declaration.
        data_root: if given, `CallContext.data_dir` is ``data_root/<plugin>``.
        audit_every_message: audit every permitted send and call (the
            default). ``False`` records only the first per sender and target
            component: faster messaging, a less complete log.
        denials: how denial storms are bounded (`DenialLimits`): denial
            records per (plugin, action) past a rate become counted
            ``denials-suppressed`` records, and an actor past its denial
            budget ends with reason ``denied``.

    Raises:
        PolicyError: ``policies`` do not parse or validate.
        AuditError: the audit log refused the initial ``policy-load`` record.
        ValueError: ``plugins`` is not a ``"hostkit"`` plugin manager.
    """

    def __init__(
        self,
        plugins: pluggy.PluginManager,
        *,
        policies: Iterable[PolicyInput] | PolicyInput = (),
        policy_files: Iterable[str | os.PathLike[str]] = (),
        schema: CedarSchema | None = None,
        authorizer: Authorizer | None = None,
        limits: CallLimits | None = None,
        audit: AuditLog | None = None,
        identities: Mapping[str, PluginIdentity] | None = None,
        contexts: Mapping[str, Sequence[str]] | None = None,
        data_root: Path | None = None,
        audit_every_message: bool = True,
        denials: DenialLimits | None = None,
    ) -> None:
        if plugins.project_name != "hostkit":
            raise ValueError(
                f"the plugin manager is for {plugins.project_name!r}; "
                "use pluggy.PluginManager('hostkit')"
            )
        files_read = getattr(plugins.hook, "files_read", None)
        if files_read is None or not files_read.has_spec():
            plugins.add_hookspecs(_hookspecs)
        self.plugins = plugins
        if isinstance(policy_files, str | os.PathLike):
            policy_files = [policy_files]
        files = [Path(f) for f in policy_files]
        if files:
            single = isinstance(policies, str | os.PathLike | PolicySource)
            listed = [policies] if single else list(cast("Iterable[PolicyInput]", policies))
            policies = [*cast("list[PolicyInput]", listed), *files]
        if authorizer is not None and (policies or schema is not None):
            raise ValueError("pass authorizer= or policies=/schema=, not both")
        stock = sorted(a for a in contexts or {} if a.startswith(f"{STOCK_PACKAGE}/"))
        if stock:
            raise ValueError(f"the contexts of stock actions are fixed by the schema: {stock}")
        self.authorizer = Authorizer(policies, schema=schema) if authorizer is None else authorizer
        self.limits = CallLimits() if limits is None else limits
        self.audit = AuditLog() if audit is None else audit
        self._identities = dict(identities or {})
        self._contexts = {k: tuple(v) for k, v in (contexts or {}).items()}
        self._data_root = data_root
        self._audit_every_message = audit_every_message
        self._storms = DenialStorms(DenialLimits() if denials is None else denials)
        # Set by `attach`: ends an actor past its denial budget (router.violation).
        self._end_denied: Callable[[Actor, str], None] = lambda actor, why: None
        self._audit_hook = plugins.hook.audit_record
        # pluggy keeps a hook's impls in one list it updates in place: reading
        # it saves a copy per call (get_hookimpls) on the per-call record path
        impls = getattr(self._audit_hook, "_hookimpls", None)
        self._audit_impls = impls if isinstance(impls, list) else None
        self._resource_hook = plugins.hook.hostkit_resource
        self._bound: dict[str, str] = {}  # hook name -> action bound to it
        self._fresh_caches()
        self._policy_record("loaded")

    # -- identities and caches ------------------------------------------------

    def _fresh_caches(self) -> None:
        # Replaced, never cleared: a thread still deciding against the old
        # policies writes into the old dicts, which nobody reads any more.
        self._who: dict[CompiledComponent, _Who] = {}
        # actor id -> (its CallContext, its pid as audit text, that encoded)
        self._contexts_by_actor: dict[int, tuple[CallContext, str, bytes]] = {}
        # Allowed stock calls already decided, see `_Admitted`; valid for
        # the authorizer snapshot they were decided under.
        self._admitted: dict[tuple[Any, ...], _Admitted] = {}
        self._admitted_under: object = self.authorizer._snapshot
        # for the per-call decision record: action -> as the log writes it,
        # a decision's policy ids -> as the log writes them
        self._action_json: dict[str, bytes] = {}
        self._policies_json: dict[tuple[str, ...], bytes] = {}
        self._process_ok: dict[tuple[Any, ...], bool] = {}
        self._reads_context: dict[str, bool] = {}

    def identity_of(self, component: CompiledComponent) -> PluginIdentity:
        """The principal the actors of ``component`` act as."""
        return self._who_of(component).identity

    def _who_of(self, component: CompiledComponent) -> _Who:
        who = self._who.get(component)
        if who is None:
            who = self._new_who(component)
        return who

    def _new_who(self, component: CompiledComponent) -> _Who:
        profile = self._identities.get(component.name)
        identity = PluginIdentity(
            component.name,
            component.digest,
            profile.version if profile else "",
            profile.publisher if profile else "",
            profile.groups if profile else (),
        )
        grants = self.authorizer.permitted_actions(identity)
        who = _Who(identity, frozenset() if grants is None else grants)
        self._who[component] = who
        return who

    def _context(self, actor: Actor, inst: Instance, who: _Who) -> tuple[CallContext, str, bytes]:
        """The actor's `CallContext` for this activation, its pid as audit
        text, and that as the log encodes it. Rebuilt when the activation
        (deadline) or the actor's name changes."""
        found = self._contexts_by_actor.get(actor.id)
        deadline = inst.guard.deadline
        name = actor.name or ""
        if found is None or found[0].deadline != deadline or found[0].actor != name:
            ctx = CallContext(
                plugin=who.name,
                pid=actor.id,
                actor=name,
                data_dir=None if self._data_root is None else self._data_root / who.name,
                grants=who.grants,
                deadline=deadline,
            )
            # a pid's text is inert as it is; inert_value keeps that a fact
            caller = inert_value(str(actor.pid))
            found = self._contexts_by_actor[actor.id] = (ctx, caller, encode_value(caller))
        return found

    # -- policies ---------------------------------------------------------------

    def reload_policies(
        self, policies: Iterable[PolicyInput] | PolicyInput, *, schema: CedarSchema | None = None
    ) -> None:
        """Replace the policies atomically (see `Authorizer.reload`) and drop
        every cached decision. Both outcomes are audited as ``policy-load``.

        Raises:
            PolicyError: the new set is invalid; the old one stays in force.
        """
        try:
            self.authorizer.reload(policies, schema=schema)
        except Exception as exc:
            self._policy_record("rejected", str(exc))
            raise
        self._fresh_caches()
        self._policy_record("loaded")

    def _policy_record(self, outcome: str, detail: str | None = None) -> None:
        authorizer = self.authorizer
        self.record(
            "policy-load",
            outcome=outcome,
            detail=detail,
            generation=authorizer.generation,
            digest=authorizer.digest,
            policies=list(authorizer.policy_ids) if outcome == "loaded" else None,
        )

    # -- binding imports ----------------------------------------------------------

    def attach(self, host: Host) -> None:
        """Hook into ``host`` (done by ``open_host(capabilities=...)``)."""
        router = host._sched.router
        router.gate = self
        # An actor past its denial budget on the messaging path (sends, calls,
        # spawns, links, names, log) is ended by the router after its
        # activation, with reason `denied`, like one denied on a host call.
        # Once: an actor already ending keeps its first reason, and its later
        # denials in the same activation add no further records.
        self._end_denied = lambda actor, why: (
            None if actor.reason is not None else router.violation(actor, why, kind="denied")
        )
        # Lifecycle records come from the host's event stream (the host
        # records through `record`); only the per-actor caches are ours to drop.
        host.add_exit_hook(self._forget_actor)

    def _forget_actor(self, pid: Any, reason: Any) -> None:
        self._contexts_by_actor.pop(int(pid), None)
        self._storms.forget_actor(str(pid))

    def resolve(self, interface: str, function: str, func_type: Any) -> Callable[..., Any]:
        """The runtime's import resolver: bind ``interface#function`` to its hook.

        Raises:
            ImportRefused: no hookspec or hookimpl, a parameter mismatch,
                an unsupported type, or a hook name another import took.
        """
        return self._bind(interface, function, describe_func(func_type))

    def _resolve_ungated(self, interface: str, function: str, func_type: Any) -> Callable[..., Any]:
        """The same binding *without* decision, limits and audit: only for
        benchmarks measuring what the gate costs. Never serve guests with it."""
        return self._bind(interface, function, describe_func(func_type), gated=False)

    def _bind(
        self, interface: str, function: str, func: WitFunc, *, gated: bool = True
    ) -> Callable[..., Any]:
        hook = hook_name_of(interface, function)
        action = action_of(interface, function)
        taken = self._bound.get(hook)
        if taken is not None and taken != action:
            raise ImportRefused(f"its hook {hook} is already bound to {taken}")
        caller = getattr(self.plugins.hook, hook, None)
        if caller is None or not caller.has_spec():
            raise ImportRefused(f"no hookspec {hook}(ctx, ...); add it with add_hookspecs()")
        if not caller.spec.opts.get("firstresult"):
            raise ImportRefused(f"hookspec {hook} must be declared firstresult=True")
        wanted = ("ctx", *(snake(n) for n, _ in func.params))
        if tuple(caller.spec.argnames) != wanted:
            raise ImportRefused(
                f"hookspec {hook}({', '.join(caller.spec.argnames)}) does not match "
                f"the WIT {func} (expected {hook}({', '.join(wanted)}))"
            )
        types = [t for _, t in func.params] + ([func.result] if func.result else [])
        if not all(supported(t) for t in types):
            raise ImportRefused(f"{func} has types a host function cannot take")
        if not caller.get_hookimpls():
            raise ImportRefused(f"no provider implements the hook {hook}; register one")
        is_async = hook_kind(caller, hook)
        package = interface.split("/", 1)[0] if "/" in interface else ""
        memo: tuple[int, ...] | None = None  # app functions: a resource hook may not be pure
        if package == STOCK_PACKAGE:
            site = STOCK_SITES.get(hook)
            expected = STOCK_SIGNATURES.get(action)
            if site is None or expected is None:
                raise ImportRefused(f"{action} is not a function hostkit's gate knows")
            if str(func) != expected:
                raise ImportMistyped(expected, str(func))
            adapters = site.adapters
            derive = site.derive
            if all(t.kind in _MEMO_KINDS for _, t in func.params):
                memo = tuple(i for i, (_, t) in enumerate(func.params) if t.kind == "string")
        else:
            adapters = tuple(
                None if t.kind in _PASS_THROUGH else _lifter(t) for _, t in func.params
            )
            derive = self._app_derive(action, func)
        self._bound[hook] = action
        binding = Binding(action, hook, caller, func, adapters, derive)
        binding.memo = memo
        if is_async:
            binding.run = self._start_async
        else:
            binding.run = self._run_hook
        dispatch = self._dispatch if gated else self._dispatch_ungated

        def call(inst: Instance, *raw: Any) -> Any:
            return dispatch(binding, inst, raw)

        return call

    def _app_derive(self, action: str, func: WitFunc) -> Derive:
        names = tuple(snake(n) for n, _ in func.params)
        chosen = self._contexts.get(action)
        if chosen is None:
            chosen = tuple(snake(n) for n, t in func.params if t.kind in _SCALARS)
        unknown = set(chosen) - set(names)
        if unknown:
            raise ImportRefused(f"contexts[{action!r}] names no parameter {sorted(unknown)}")
        resource_hook = self._resource_hook
        for impl in resource_hook.get_hookimpls():
            if inspect.iscoroutinefunction(impl.function):
                raise ImportRefused(
                    f"the hostkit_resource hookimpl of plugin {impl.plugin_name!r} is async; "
                    "it runs before the decision, on the caller's thread: make it sync"
                )

        def derive(
            who: Entity, args: tuple[Any, ...], ctx: CallContext
        ) -> tuple[Entity, Mapping[str, Any], int]:
            kwargs = dict(zip(names, args, strict=True))
            found = None
            if resource_hook.get_hookimpls():
                found = resource_hook(ctx=ctx, action=action, args=MappingProxyType(kwargs))
            if found is None:
                resource = who
            elif isinstance(found, Entity):
                resource = found
            else:
                kind, ident = found
                resource = Entity.of(kind, str(ident))
            size = sum(len(a.encode("utf-8", "surrogatepass")) for a in args if isinstance(a, str))
            return resource, {n: kwargs[n] for n in chosen}, size

        return derive

    # -- one host call ----------------------------------------------------------------

    def _dispatch(self, b: Binding, inst: Instance, raw: tuple[Any, ...]) -> Any:
        actor = cast("Actor", inst.owner)
        who = self._who.get(actor.component) or self._new_who(actor.component)
        ctx, caller, caller_json = self._context(actor, inst, who)
        started = _now_ns()
        # The fast path: a stock call with short arguments this plugin made
        # before under the same policies. Its resource, payload size and
        # (allowed) decision are a pure function of those, so only the
        # limits and the record are per call.
        key = None
        if b.memo is not None and self._admitted_under is self.authorizer._snapshot:
            for i in b.memo:
                if len(raw[i]) > _MEMO_CHARS:
                    break
            else:
                key = (b, who, raw)
                hit = self._admitted.get(key)
                if hit is not None:
                    over = self.limits.check(who.name, b.action, hit.size)
                    if over is None:
                        try:
                            self._write_allowed(caller_json, hit.record, started)
                        except AuditError as exc:
                            return self._unaudited(b, who, exc)
                        return b.run(b, ctx, hit.args)
                    refused = _limit_refusal(over)
                    self._refused(
                        b.action, caller, who, hit.resource, refused, started, hit.decision
                    )
                    return b.error(refused)
        args = b.adapt(raw)
        try:
            resource, context, size = b.derive(who.entity, args, ctx)
        except HostCallError as exc:  # the arguments name no resource (e.g. a '..' path)
            self._refused(b.action, caller, who, None, exc, started)
            return b.error(exc)
        decision = self.authorizer.is_authorized(who.identity, b.action, resource, context)
        refusal: HostCallError | None = None
        if decision.allowed:
            over = self.limits.check(who.name, b.action, size)
            if over is not None:
                refusal = _limit_refusal(over)
        else:
            refusal = HostCallDenied(
                f"{who.identity.uid} may not {b.action} on {resource.uid}: {decision.reason}"
            )
        if refusal is not None:
            self._refused(b.action, caller, who, resource, refusal, started, decision)
            return b.error(refusal)
        try:
            if decision.errors:
                self._audit_decision(b.action, caller, who, resource, decision, started, None)
            else:
                record = self._record_tail(b.action, who, resource, decision)
                self._write_allowed(caller_json, record, started)
                if key is not None:
                    self._admit(key, _Admitted(args, resource, size, decision, record))
        except AuditError as exc:
            return self._unaudited(b, who, exc)
        return b.run(b, ctx, args)

    def _admit(self, key: tuple[Any, ...], admitted: _Admitted) -> None:
        snapshot = self.authorizer._snapshot
        if self._admitted_under is not snapshot or len(self._admitted) >= _MEMO_LIMIT:
            # Replaced, never cleared: see `_fresh_caches`.
            self._admitted = {}
            self._admitted_under = snapshot
        self._admitted[key] = admitted

    def _unaudited(self, b: Binding, who: _Who, exc: AuditError) -> Any:
        log.error("denied %s for %s: %s", b.action, who.name, exc)
        return b.error(HostCallDenied(f"the audit log is unavailable: {exc}"))

    def _dispatch_ungated(self, b: Binding, inst: Instance, raw: tuple[Any, ...]) -> Any:
        actor = cast("Actor", inst.owner)
        who = self._who.get(actor.component) or self._new_who(actor.component)
        ctx = self._context(actor, inst, who)[0]
        args = b.adapt(raw)
        return b.run(b, ctx, args)

    def _run_hook(self, b: Binding, ctx: CallContext, args: tuple[Any, ...]) -> Any:
        """Call the hook; its errors and a missing answer become WIT errors."""
        try:
            value = b.caller(ctx=ctx, **dict(zip(b.names, args, strict=True)))
        except HostCallQuotaExceeded as exc:
            self._quota_record(b.action, ctx, exc)
            return b.error(exc)
        except (HostCallError, CapabilityDenied) as exc:
            return b.error(exc)
        if value is None:
            return b.error(HostCallUnsupported(f"no provider answered {b.action}"))
        if type(value) is CoroutineType:  # an async hookimpl registered after binding
            return b.error(late_async_refusal(b, value))
        return b.ok(value)

    def _start_async(self, b: Binding, ctx: CallContext, args: tuple[Any, ...]) -> Any:
        """An allowed call of an async hook: the awaitable the runtime awaits
        (see ``_gate_async``) while the guest's call is suspended."""
        return run_async(b, ctx, args, self._quota_record)


def _limit_refusal(over: str) -> HostCallError:
    return TooLarge(over) if over.startswith("payload") else RateLimited(over)


class _Admitted:
    """An allowed stock call, decided: what `Gate._dispatch` reuses for the
    same plugin, function and arguments (see ``_MEMO_CHARS``)."""

    __slots__ = ("args", "decision", "record", "resource", "size")

    def __init__(
        self,
        args: tuple[Any, ...],
        resource: Entity,
        size: int,
        decision: Any,
        record: bytes,
    ) -> None:
        self.args = args  # the hook's arguments, adapted
        self.resource = resource
        self.size = size
        self.decision = decision
        self.record = record  # the decision record after its "actor" field


def _lifter(ty: WitType) -> Callable[[Any], Any]:
    def adapt(value: Any) -> Any:
        return lift(ty, value)

    return adapt
