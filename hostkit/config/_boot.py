"""Boot a host from a :class:`~._load.HostFile`: providers, gate, audit log,
components and the supervision tree, closed in reverse on the way out."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from .._errors import ConfigError
from ..audit import AuditLog
from ..capabilities import CedarSchema, Gate, PluginIdentity, Root
from ..capabilities.providers import (
    ClockProvider,
    FilesProvider,
    HttpProvider,
    KvProvider,
    LogProvider,
    RandomProvider,
)
from ..runtime import Component, ComponentLimits, Host, HostConfig, open_host
from ..supervision import Supervisor, open_supervisor
from ._app import load_app
from ._federation import RunningFederation, open_config_federation
from ._load import HostFile, load_config

#: hostkit's stock default policy: a plugin may read the clock, draw random
#: numbers, log and learn its own pid; nothing that reaches outside it.
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "_build" / "default.cedar"

_HOST_LIMITS = (
    "scheduler_threads", "batch_size", "mailbox_capacity", "max_message_size",
    "activation_timeout", "fuel_per_activation", "host_call_budget", "max_memory_bytes",
    "max_component_bytes", "tick_seconds", "shutdown_timeout", "max_actors",
    "max_actors_per_plugin", "arena",
)


@dataclass
class ConfiguredHost:
    """A host booted from a configuration file, as :func:`open_configured_host`
    yields it. Do not construct it.

    Attributes:
        config: The checked configuration.
        host: The running :class:`~hostkit.Host`.
        gate: The capability gate every host call goes through.
        audit: The audit log (``[audit] path``, or in memory only).
        supervisor: The root supervisor of ``[supervisor]``.
        components: Component name -> loaded :class:`~hostkit.Component`.
        app_plugins: The plugin objects ``[app] plugins`` registered, in order.
        federation: The federation ``[federation]`` started (None without it).
    """

    config: HostFile
    host: Host
    gate: Gate
    audit: AuditLog
    supervisor: Supervisor
    components: dict[str, Component] = field(default_factory=dict)
    app_plugins: tuple[object, ...] = ()
    federation: RunningFederation | None = None


def host_config(config: HostFile) -> HostConfig:
    """The :class:`~hostkit.HostConfig` that ``[host]`` describes.

    Raises:
        ConfigError: a limit is out of range (names the key).
    """
    t = config.tables.host
    kwargs: dict[str, Any] = {k: getattr(t, k) for k in _HOST_LIMITS if getattr(t, k) is not None}
    if t.cache_dir is not None:
        kwargs["cache_dir"] = config.resolve(t.cache_dir) if t.cache_dir else None
    if config.tables.federation is not None:
        kwargs["node_name"] = t.node  # pids carry the federation node name
    try:
        return HostConfig(**kwargs)
    except ValueError as exc:
        key = str(exc).split(" ", 1)[0].replace("HostConfig.", "host.")
        raise ConfigError(f"{config.path}: {key}: {exc}") from None


def component_limits(config: HostFile) -> dict[str, ComponentLimits]:
    """The ``limits`` of each ``[[components]]`` entry that has them, checked
    against ``[host]`` (each at most the host's).

    Raises:
        ConfigError: a limit exceeds the host's (names the key).
    """
    cfg = host_config(config)
    out: dict[str, ComponentLimits] = {}
    for i, comp in enumerate(config.tables.components):
        if comp.limits is None:
            continue
        t = comp.limits
        limits = ComponentLimits(t.fuel_per_activation, t.activation_timeout, t.max_memory_bytes)
        try:
            limits.resolve(cfg, cfg.limits())
        except ValueError as exc:
            field_name = str(exc).split(":", 1)[0].split(" ", 1)[0]
            raise ConfigError(
                f"{config.path}: components[{i}].limits.{field_name}: {exc}"
            ) from None
        out[comp.name] = limits
    return out


def _plugin_manager(
    config: HostFile,
    plugins: Iterable[object],
    hookspecs: Iterable[type | ModuleType],
    app: tuple[list[tuple[str, object]], list[tuple[str, Any]]],
    stack: Any,
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hostkit")
    for specs in hookspecs:
        pm.add_hookspecs(specs)
    app_plugins, app_specs = app
    for key, specs in app_specs:
        try:
            pm.add_hookspecs(specs)
        except ValueError as exc:
            raise ConfigError(f"{config.path}: {key}: {exc}") from None
    for plugin in plugins:
        pm.register(plugin)
    for key, plugin in app_plugins:
        try:
            pm.register(plugin)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise ConfigError(f"{config.path}: {key}: cannot register it: {exc}") from None
    t = config.tables
    roots: dict[str, Root] = {}
    for prefix, spec in t.files.roots.items():
        host_dir, writable = (spec, False) if isinstance(spec, str) else (spec.path, spec.writable)
        path = config.resolve(host_dir)
        if writable:
            path.mkdir(parents=True, exist_ok=True)
        roots[prefix] = Root(path, writable=writable)
    files_kw = {k: getattr(t.files, k) for k in ("max_read_bytes", "max_write_bytes")
                if getattr(t.files, k) is not None}
    try:
        pm.register(FilesProvider(roots, **files_kw))
    except ValueError as exc:
        raise ConfigError(f"{config.path}: files.roots: {exc}") from None
    http_kw = {k: getattr(t.http, k) for k in ("timeout", "max_response_bytes")
               if getattr(t.http, k) is not None}
    pm.register(HttpProvider(allow_private=t.http.allow_private, **http_kw))
    kv_kw = {k: getattr(t.kv, k) for k in ("max_value_bytes", "max_keys")
             if getattr(t.kv, k) is not None}
    if t.kv.path is None:
        kv = KvProvider(":memory:", **kv_kw)
    else:
        kv_path = config.resolve(t.kv.path)
        kv_path.parent.mkdir(parents=True, exist_ok=True)
        kv = KvProvider(kv_path, **kv_kw)
    stack.callback(kv.close)
    pm.register(kv)
    for provider in (ClockProvider(), RandomProvider(), LogProvider()):
        pm.register(provider)
    return pm


@asynccontextmanager
async def open_configured_host(
    config: HostFile | str | os.PathLike[str],
    *,
    plugins: Iterable[object] = (),
    hookspecs: Iterable[type | ModuleType] = (),
) -> AsyncIterator[ConfiguredHost]:
    """Boot the host a ``host.toml`` describes, for an ``async with`` block.

    In order: the stock providers (plus the application's own ``plugins``
    and ``hookspecs``, for its WIT API, both from the arguments and from
    the file's ``[app]`` table), the audit log, the capability gate
    with the policy files and grants, the host, every component (compiled
    in a worker thread), the federation (``[federation]``), then the
    supervision tree. Leaving the block stops
    the tree (children in reverse order), closes the host and the audit log.

    Args:
        config: A :class:`HostFile` or the path of a ``host.toml``.
        plugins: pluggy plugins implementing the application's hooks.
        hookspecs: classes or modules with the application's hookspecs.

    Raises:
        ConfigError: the configuration is malformed, or an ``[app]`` entry
            does not import or register (names the key).
        ComponentLoadError: a component cannot be loaded (names it and why).
        PolicyError: a policy file or grant does not validate.
        SpawnError: a child failed to start.
    """
    if not isinstance(config, HostFile):
        config = load_config(config)
    t = config.tables
    async with AsyncExitStack() as stack:
        app = load_app(config)
        pm = _plugin_manager(config, plugins, hookspecs, app, stack)
        schema = CedarSchema.stock()
        for fragment in t.policies.schema:
            schema = schema.extend(config.resolve(fragment))
        audit_path = config.resolve(t.audit.path) if t.audit.path else None
        if audit_path is not None:
            audit_path.parent.mkdir(parents=True, exist_ok=True)
        audit = AuditLog(node=t.host.node, path=audit_path, fsync=t.audit.fsync)
        stack.callback(audit.close)
        identities = {
            c.name: PluginIdentity(c.name, "", c.version, c.publisher, tuple(c.groups))
            for c in t.components
        }
        policies: list[Any] = [DEFAULT_POLICY] if t.policies.default else []
        policies += [config.resolve(p) for p in t.policies.files]
        policies += config.grants
        gate = Gate(pm, policies=policies, schema=schema, audit=audit, identities=identities)
        limits = component_limits(config)
        host = await stack.enter_async_context(open_host(host_config(config), capabilities=gate))
        components = {}
        for name, path in config.component_paths.items():
            components[name] = await host.load_async(path, name=name, limits=limits.get(name))
        federation = None
        if t.federation is not None:  # before the tree: children may reach peers
            federation = await stack.enter_async_context(open_config_federation(config, host))
        sup = t.supervisor
        supervisor = await stack.enter_async_context(
            open_supervisor(host, config.flags, config.children, name=sup.name)
        )
        yield ConfiguredHost(
            config, host, gate, audit, supervisor, components, tuple(p for _, p in app[0]),
            federation,
        )

