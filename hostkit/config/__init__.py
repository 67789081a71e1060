"""Hosts described by a file: ``host.toml``, as ``hostkit run`` reads it.

::

    from hostkit.config import load_config, open_configured_host

    async with open_configured_host("host.toml") as running:
        reply = await running.host.call(running.host.whereis("ingest"), "...")

A file names the components (path, name, identity, limits), the grants
(capability shorthands or ``.cedar`` files), the supervision tree, the
providers' directories, the audit log, the host-wide limits and the
application's own API (``[app]``). A bad file
raises :class:`~hostkit.ConfigError` naming the file, the key and what is
expected. See ``docs/reference/config.md``.
"""

from ._boot import ConfiguredHost as ConfiguredHost
from ._boot import host_config as host_config
from ._boot import open_configured_host as open_configured_host
from ._load import MAX_CONFIG_BYTES as MAX_CONFIG_BYTES
from ._load import HostFile as HostFile
from ._load import load_config as load_config
from ._load import parse_config as parse_config

__all__ = [
    "MAX_CONFIG_BYTES",
    "ConfiguredHost",
    "HostFile",
    "host_config",
    "load_config",
    "open_configured_host",
    "parse_config",
]
