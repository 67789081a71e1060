"""``[federation]`` of ``host.toml``: checked with the file, started with the host.

:func:`check_federation` is the loader's third pass for the table (names,
addresses, which credential, TLS off loopback, files that must exist);
nothing secret is read there. :func:`open_config_federation` reads the
credential, builds the transports and the Cedar peer policy, and federates
the running host through the public :func:`~hostkit.federation.open_host_federation`.

Addresses in the file are ``HOST:PORT`` for every transport; the transport
says how to reach them (``ws://``/``wss://`` is chosen from the TLS
settings). Internally a QUIC address is written ``quic://HOST:PORT`` so one
federation can use both transports (:class:`_Transports`).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .._errors import ConfigError, HostkitError

if TYPE_CHECKING:
    from ..federation import Channel, Federation
    from ..runtime import Host
    from ._load import HostFile
    from ._schema import FederationTable

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Default casts per target actor one peer may have in a mailbox (credit).
DEFAULT_CREDIT_WINDOW = 1024


def split_address(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (IPv6 in brackets) -> (host, port), or None if malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        return None
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        return None
    return host.strip("[]"), int(port)


def _loopback(host: str) -> bool:
    from ..federation._link import is_loopback

    return is_loopback(host)


def check_federation(
    fail: Callable[[str, str], ConfigError],
    resolve: Callable[[str], Path],
    node: str,
    t: FederationTable,
) -> None:
    """Check ``[federation]`` against itself and the file system.

    Raises:
        ConfigError: via ``fail(key, problem)``, naming the key.
    """
    from ..federation import FederationConfigError, check_node_name

    try:
        check_node_name(node)
    except FederationConfigError as exc:
        raise fail("host.node", f"{exc} (the federation node name is [host] node)") from None
    given = [k for k in ("secret_file", "secret_env", "key_file") if getattr(t, k) is not None]
    if len(given) != 1:
        raise fail(
            "federation",
            "give exactly one credential: secret_file = \"cluster.secret\" (hostkit node "
            "keygen --secret), secret_env = \"VAR\" (hex in the environment) or key_file = "
            f"\"NODE.key\" (hostkit node keygen); found {', '.join(given) or 'none'}",
        )
    if t.secret_env is not None and not _ENV_NAME.fullmatch(t.secret_env):
        raise fail("federation.secret_env", f"{t.secret_env!r} is not an environment variable name")
    for key in ("secret_file", "key_file", "tls_cert", "tls_key", "tls_ca"):
        value = getattr(t, key)
        if value is not None and not resolve(value).is_file():
            raise fail(f"federation.{key}", f"file not found: {resolve(value)}")
    if (t.tls_cert is None) != (t.tls_key is None):
        raise fail("federation.tls_cert", "give tls_cert and tls_key together")
    if not t.policy:
        raise fail(
            "federation.policy",
            "required: Cedar files saying which peers (Node::\"name\") may connect and what "
            "they may do; without them every peer is refused",
        )
    for i, p in enumerate(t.policy):
        if not resolve(p).exists():
            raise fail(f"federation.policy[{i}]", f"not found: {resolve(p)}")
    if t.reconnect_max < t.reconnect_initial:
        raise fail("federation.reconnect_max", "must be >= reconnect_initial")
    for i, entry in enumerate(t.listen):
        key = f"federation.listen[{i}]"
        address, transport = (
            (entry, t.transport) if isinstance(entry, str)
            else (entry.address, entry.transport or t.transport)
        )
        where = split_address(address)
        if where is None:
            raise fail(key, f"{address!r} must be HOST:PORT (port 0 picks a free one)")
        if transport == "quic" and t.tls_cert is None:
            raise fail(key, "a QUIC listener needs tls_cert and tls_key (QUIC is always TLS)")
        if (transport == "websocket" and t.tls_cert is None and not t.allow_insecure
                and not _loopback(where[0])):
            raise fail(
                key, f"{where[0]} is not loopback: set tls_cert and tls_key (plain websockets "
                "are refused off loopback; allow_insecure = true only on a private test network)",
            )
    names: set[str] = set()
    for i, peer in enumerate(t.peers):
        key = f"federation.peers[{i}]"
        try:
            check_node_name(peer.name)
        except FederationConfigError as exc:
            raise fail(f"{key}.name", str(exc)) from None
        if peer.name in names or peer.name == node:
            why = "is this node ([host] node)" if peer.name == node else "is listed twice"
            raise fail(f"{key}.name", f"{peer.name!r} {why}")
        names.add(peer.name)
        if t.key_file is not None:
            if peer.public_key is None:
                raise fail(f"{key}.public_key", "required with key_file: the peer's NAME.pub")
            if not resolve(peer.public_key).is_file():
                raise fail(f"{key}.public_key", f"file not found: {resolve(peer.public_key)}")
        elif peer.public_key is not None:
            raise fail(f"{key}.public_key", "only with key_file (a cluster secret needs none)")
        if peer.address is None:
            continue
        where = split_address(peer.address)
        if where is None:
            raise fail(f"{key}.address", f"{peer.address!r} must be HOST:PORT")
        transport = peer.transport or t.transport
        if transport == "quic" and t.tls_ca is None:
            raise fail(f"{key}.address", "dialling QUIC needs tls_ca (the peers' CA)")
        if (transport == "websocket" and t.tls_ca is None and not t.allow_insecure
                and not _loopback(where[0])):
            raise fail(
                f"{key}.address",
                f"{where[0]} is not loopback: set tls_ca to dial it over wss:// (plain "
                "websockets are refused off loopback)",
            )


class _Transports:
    """One :class:`~hostkit.federation.Transport` over websocket and QUIC:
    ``quic://HOST:PORT`` goes to QUIC, anything else to the websocket one."""

    def __init__(self, websocket: Any, quic: Any) -> None:
        self._ws = websocket
        self._quic = quic

    def open_channel(self, address: str) -> AbstractAsyncContextManager[Channel]:
        if address.startswith("quic://"):
            return self._quic_transport().open_channel(address[len("quic://"):])  # type: ignore[no-any-return]
        return self._ws.open_channel(address)  # type: ignore[no-any-return]

    async def serve(
        self,
        address: str,
        on_channel: Callable[[Channel], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        if address.startswith("quic://"):
            inner = address[len("quic://"):]

            async def serve_quic(task_status: trio.TaskStatus[str]) -> None:
                await self._quic_transport().serve(inner, on_channel, task_status=task_status)

            async with trio.open_nursery() as nursery:
                bound = await nursery.start(serve_quic)
                task_status.started(f"quic://{bound}")
            return
        await self._ws.serve(address.split("://", 1)[-1], on_channel, task_status=task_status)

    def _quic_transport(self) -> Any:
        if self._quic is None:
            raise ConfigError("QUIC is not configured: set tls_cert/tls_key/tls_ca")
        return self._quic


@dataclass(frozen=True)
class RunningFederation:
    """The federation ``hostkit run`` started: the :class:`Federation`, the
    addresses it listens on, and the peers it dials."""

    federation: Federation
    listening: tuple[str, ...]
    dialling: dict[str, str]


def _authenticator(config: HostFile, t: FederationTable) -> Any:
    from ..federation import ClusterSecret, FederationConfigError, NodeKeys

    listed = frozenset(p.name for p in t.peers) if t.only_listed_peers else None
    try:
        if t.secret_file is not None:
            key = "federation.secret_file"
            return ClusterSecret.from_file(config.resolve(t.secret_file), peers=listed)
        if t.secret_env is not None:
            key = "federation.secret_env"
            text = os.environ.get(t.secret_env)
            if text is None:
                raise FederationConfigError(f"${t.secret_env} is not set")
            try:
                secret = bytes.fromhex(text.strip())
            except ValueError:
                raise FederationConfigError(f"${t.secret_env} is not hex") from None
            return ClusterSecret(secret, peers=listed)
        key = "federation.key_file"
        assert t.key_file is not None
        known = {p.name: config.resolve(p.public_key) for p in t.peers if p.public_key}
        return NodeKeys.from_files(config.resolve(t.key_file), known)
    except (FederationConfigError, OSError) as exc:
        raise ConfigError(f"{config.path}: {key}: {exc}") from None


def _transports(config: HostFile, t: FederationTable) -> _Transports:
    from ..federation import FederationConfigError, QuicTransport, WebsocketTransport

    def path(value: str | None) -> str | None:
        return None if value is None else str(config.resolve(value))

    cert, key, ca = path(t.tls_cert), path(t.tls_key), path(t.tls_ca)
    try:
        ws = WebsocketTransport.tls(certificate=cert, private_key=key, ca_file=ca)
    except FederationConfigError as exc:
        raise ConfigError(f"{config.path}: federation.tls_cert: {exc}") from None
    ws.allow_insecure = t.allow_insecure
    quic = None
    if cert is not None or ca is not None:
        quic = QuicTransport(certificate=cert, private_key=key, ca_file=ca)
    return _Transports(ws, quic)


def dial_address(t: FederationTable, address: str, transport: str | None) -> str:
    """The address a peer entry is dialled at, with its transport's scheme."""
    if (transport or t.transport) == "quic":
        return f"quic://{address}"
    return f"{'wss' if t.tls_ca is not None else 'ws'}://{address}/"


@asynccontextmanager
async def open_config_federation(config: HostFile, host: Host) -> AsyncIterator[RunningFederation]:
    """Federate ``host`` as ``[federation]`` describes, for an ``async with`` block.

    Raises:
        ConfigError: the credential, a TLS file or a policy file does not
            load, or an address cannot be listened on (names the key).
    """
    from ..capabilities import Authorizer
    from ..federation import LinkConfig, federation_schema, host_peer_policy, open_host_federation

    t = config.tables.federation
    assert t is not None
    authenticator = _authenticator(config, t)
    transports = _transports(config, t)
    try:
        authorizer = Authorizer(
            [config.resolve(p) for p in t.policy], schema=federation_schema()
        )
    except HostkitError as exc:
        raise ConfigError(f"{config.path}: federation.policy: {exc}") from None
    groups = {p.name: tuple(p.groups) for p in t.peers}
    policy = host_peer_policy(host, authorizer, groups_of=lambda name: groups.get(name, ()))
    window = t.credit_window or min(DEFAULT_CREDIT_WINDOW, host.config.mailbox_capacity)
    link_config = LinkConfig(
        heartbeat_timeout=t.heartbeat_timeout,
        send_buffer=t.send_buffer,
        max_message=t.max_message,
        credit_window=window,
        require_channel_binding=t.require_channel_binding,
    )
    async with open_host_federation(
        host,
        authenticator=authenticator,
        transport=transports,
        policy=policy,
        config=link_config,
        reconnect=(t.reconnect_initial, t.reconnect_max),
    ) as federation:
        listening = []
        for i, entry in enumerate(t.listen):
            address, transport = (
                (entry, t.transport) if isinstance(entry, str)
                else (entry.address, entry.transport or t.transport)
            )
            inner = f"quic://{address}" if transport == "quic" else address
            try:
                listening.append(await federation.listen(inner))
            except (OSError, HostkitError) as exc:
                raise ConfigError(
                    f"{config.path}: federation.listen[{i}]: cannot listen on {address}: {exc}"
                ) from None
        dialling = {}
        for peer in t.peers:
            if peer.address is not None:
                dialling[peer.name] = dial_address(t, peer.address, peer.transport)
                federation.add_peer(peer.name, dialling[peer.name])
        yield RunningFederation(federation, tuple(listening), dialling)
