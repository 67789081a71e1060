"""The shape of ``host.toml``, as typed msgspec structs.

Every table forbids unknown keys, so a typo is an error naming the key
rather than a setting silently ignored. Paths stay strings here; the loader
(:mod:`._load`) resolves them against the file's directory. Defaults are the
safe ones: no files, no grants, no control endpoint without a socket
directory only its owner can enter.

See ``docs/reference/config.md`` for every key.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

NonEmpty = Annotated[str, Meta(min_length=1)]
Positive = Annotated[int, Meta(gt=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]
#: The name a component is loaded under: the Cedar principal ``Plugin::"<name>"``.
PluginName = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Table(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base of every table: unknown keys are errors."""


class HostTable(_Table):
    """``[host]``: the node name and the host-wide limits (``HostConfig``)."""

    node: NonEmpty = "local"
    scheduler_threads: Positive | None = None
    batch_size: Positive | None = None
    mailbox_capacity: Positive | None = None
    max_message_size: Positive | None = None
    activation_timeout: PositiveFloat | None = None
    fuel_per_activation: Positive | None = None
    host_call_budget: Positive | None = None
    max_memory_bytes: Positive | None = None
    max_component_bytes: Positive | None = None
    tick_seconds: PositiveFloat | None = None
    shutdown_timeout: PositiveFloat | None = None
    max_actors: Positive | None = None
    max_actors_per_plugin: Positive | None = None
    arena: bool | None = None
    cache_dir: str | None = None


class AuditTable(_Table):
    """``[audit]``: where the hash-chained audit log goes."""

    path: NonEmpty | None = None
    fsync: bool = False


class FileRootTable(_Table):
    """One granted directory: ``{ path = "...", writable = true }``."""

    path: NonEmpty
    writable: bool = False


class FilesTable(_Table):
    """``[files]``: the stock files provider."""

    roots: dict[str, NonEmpty | FileRootTable] = {}
    max_read_bytes: Positive | None = None
    max_write_bytes: Positive | None = None


class HttpTable(_Table):
    """``[http]``: the stock http provider (outbound requests)."""

    allow_private: list[NonEmpty] = []
    timeout: PositiveFloat | None = None
    max_response_bytes: Positive | None = None


class KvTable(_Table):
    """``[kv]``: the stock key-value provider (per-plugin state); without a
    ``path`` the store is in memory and gone when the host stops."""

    path: NonEmpty | None = None
    max_value_bytes: Positive | None = None
    max_keys: Positive | None = None


class PoliciesTable(_Table):
    """``[policies]``: Cedar policy files and schema fragments."""

    default: bool = True
    files: list[NonEmpty] = []
    schema: list[NonEmpty] = []


class HttpGrant(_Table):
    """A ``network`` grant written as a table, for a port or methods."""

    host: NonEmpty
    port: Annotated[int, Meta(ge=1, le=65535)] | None = 443
    methods: list[NonEmpty] | None = None


class GrantTable(_Table):
    """One ``[[grants]]`` entry: shorthand capabilities for one principal."""

    plugin: PluginName | None = None
    group: NonEmpty | None = None
    any_plugin: bool = False
    file_read: list[NonEmpty] = []
    file_list: list[NonEmpty] = []
    file_write: list[NonEmpty] = []
    network: list[NonEmpty | HttpGrant] = []
    messaging: list[NonEmpty] = []
    spawn: list[NonEmpty] = []
    register: list[NonEmpty] = []
    kv_read: list[NonEmpty] = []
    kv_write: list[NonEmpty] = []


class ComponentLimitsTable(_Table):
    """``limits = { ... }`` of a component: each at most ``[host]``'s."""

    fuel_per_activation: Positive | None = None
    activation_timeout: PositiveFloat | None = None
    max_memory_bytes: Positive | None = None


class ComponentTable(_Table):
    """One ``[[components]]`` entry: a ``.wasm`` loaded under a name."""

    name: PluginName
    path: NonEmpty
    version: str = ""
    publisher: str = ""
    groups: list[NonEmpty] = []
    limits: ComponentLimitsTable | None = None


class BackoffTable(_Table):
    """``backoff = { initial = 0.1, ... }``: restart delays (beyond OTP)."""

    initial: PositiveFloat
    factor: float = 2.0
    max: float = 30.0
    jitter: float = 0.1
    reset_after: PositiveFloat = 60.0


class ChildTable(_Table):
    """One child of a supervisor: an actor (``component``) or a nested
    supervisor (``children``)."""

    id: NonEmpty
    component: PluginName | None = None
    init: str = ""
    name: NonEmpty | None = None
    trap_exit: bool = False
    restart: str = "permanent"
    shutdown: float | str | None = None
    significant: bool = False
    strategy: str | None = None
    intensity: int | None = None
    period: float | None = None
    backoff: BackoffTable | None = None
    children: list[ChildTable] | None = None


class SupervisorTable(_Table):
    """``[supervisor]``: the root of the supervision tree."""

    name: NonEmpty = "root"
    strategy: str = "one_for_one"
    intensity: Annotated[int, Meta(ge=0)] = 3
    period: PositiveFloat = 5.0
    backoff: BackoffTable | None = None
    children: list[ChildTable] = []


#: ``module`` or ``module:attribute`` (dotted names), as ``[app]`` lists them.
ImportRef = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
        r"(:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$",
    ),
]


class AppTable(_Table):
    """``[app]``: the application's own Python API (its WIT packages'
    hookspecs and the pluggy plugins implementing them), imported with the
    file's directory on ``sys.path``."""

    plugins: list[ImportRef] = []
    hookspecs: list[ImportRef] = []


class ControlTable(_Table):
    """``[control]``: the local control endpoint of ``hostkit run``."""

    enabled: bool = True
    socket_dir: str | None = None
    max_request_bytes: Positive = 1024 * 1024 + 4096
    max_connections: Annotated[int, Meta(gt=0, le=1024)] = 8
    call_timeout: PositiveFloat = 5.0
    idle_timeout: PositiveFloat = 60.0


#: A federation node name (``hostkit.federation.check_node_name`` has the rule).
NodeName = Annotated[str, Meta(min_length=1, max_length=128)]
TransportName = Literal["websocket", "quic"]


class ListenTable(_Table):
    """One ``[[federation.listen]]`` entry written as a table, for a transport
    other than ``[federation] transport``."""

    address: NonEmpty
    transport: TransportName | None = None


class PeerTable(_Table):
    """One ``[[federation.peers]]`` entry: a node this one knows."""

    name: NodeName
    address: NonEmpty | None = None
    transport: TransportName | None = None
    groups: list[NonEmpty] = []
    public_key: NonEmpty | None = None


class FederationTable(_Table):
    """``[federation]``: this host as a node of a federation (see
    ``docs/reference/config.md``). The node name is ``[host] node``."""

    transport: TransportName = "websocket"
    listen: list[NonEmpty | ListenTable] = []
    peers: list[PeerTable] = []
    secret_file: NonEmpty | None = None
    secret_env: NonEmpty | None = None
    key_file: NonEmpty | None = None
    only_listed_peers: bool = False
    tls_cert: NonEmpty | None = None
    tls_key: NonEmpty | None = None
    tls_ca: NonEmpty | None = None
    allow_insecure: bool = False
    require_channel_binding: bool = True
    policy: list[NonEmpty] = []
    heartbeat_timeout: PositiveFloat = 15.0
    send_buffer: Annotated[int, Meta(ge=16 * 1024)] = 4 * 1024 * 1024
    max_message: Annotated[int, Meta(ge=16 * 1024)] = 16 * 1024 * 1024
    credit_window: Annotated[int, Meta(ge=1, le=1 << 20)] | None = None
    reconnect_initial: PositiveFloat = 0.1
    reconnect_max: PositiveFloat = 30.0


class HostFileTables(_Table):
    """The whole file, as decoded (paths not yet resolved)."""

    host: HostTable = msgspec.field(default_factory=HostTable)
    audit: AuditTable = msgspec.field(default_factory=AuditTable)
    files: FilesTable = msgspec.field(default_factory=FilesTable)
    http: HttpTable = msgspec.field(default_factory=HttpTable)
    kv: KvTable = msgspec.field(default_factory=KvTable)
    policies: PoliciesTable = msgspec.field(default_factory=PoliciesTable)
    components: list[ComponentTable] = []
    grants: list[GrantTable] = []
    supervisor: SupervisorTable = msgspec.field(default_factory=SupervisorTable)
    control: ControlTable = msgspec.field(default_factory=ControlTable)
    app: AppTable = msgspec.field(default_factory=AppTable)
    federation: FederationTable | None = None


#: The top-level tables ``host.toml`` may have, in documentation order.
SECTIONS = tuple(HostFileTables.__struct_fields__)
#: Tables a later hostkit will read; this one says so instead of "unknown".
RESERVED_SECTIONS: dict[str, str] = {}
