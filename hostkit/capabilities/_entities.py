"""The parties of a Cedar request: plugin identities and other entities.

Both are immutable and hashable, because every request's principal and
resource are part of the decision cache key. Hashing them must stay cheap:
`PluginIdentity` computes its hash once, `Entity` is a tuple.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ._cedartext import cedar_string

AttrValue = str | int | bool | tuple[Any, ...] | frozenset[Any]
"""An entity attribute value: a Cedar String, Long or Bool, or a Set of those
(a tuple or frozenset)."""


# The stock constructors run per host call: skip NamedTuple's Python-level
# __new__ (its defaults handling) and build the tuple directly.
_new = tuple.__new__


class Entity(NamedTuple):
    """A Cedar entity: ``type::"id"`` with attributes and parents.

    Use the constructors (`file`, `host`, `key`, `name`, `node`, `plugin`) for
    the stock types; `of` for an application's own::

        Entity.file("/data/a.txt")          # File::"/data/a.txt", path attr
        Entity.host("api.example.com", 443) # Host::"api.example.com:443"
        Entity.of("Monster", "m1", kind="orc")

    Attributes are kept as a sorted tuple of ``(name, value)`` pairs and
    parents as ``(type, id)`` pairs so the entity hashes like a tuple.
    """

    type: str
    id: str
    attrs: tuple[tuple[str, AttrValue], ...] = ()
    parents: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        type: str,
        id: str,
        /,
        *,
        parents: Iterable[tuple[str, str]] = (),
        **attrs: AttrValue,
    ) -> Entity:
        """An entity of any type declared in the schema, e.g. an app's own."""
        return cls(type, id, tuple(sorted(attrs.items())), tuple(parents))

    @classmethod
    def file(cls, path: str) -> Entity:
        """``File::"<path>"``; ``path`` must be absolute and normalized."""
        return _new(cls, ("File", path, (("path", path),), ()))

    @classmethod
    def host(cls, name: str, port: int) -> Entity:
        """``Host::"<name>:<port>"``; ``name`` lowercase, without a trailing
        dot; an IPv6 literal gets brackets (``Host::"[::1]:443"``)."""
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        return _new(cls, ("Host", f"{name}:{port}", (("name", name), ("port", port)), ()))

    @classmethod
    def key(cls, name: str) -> Entity:
        """``Key::"<name>"``: a key (or key prefix) of the plugin's own store."""
        return _new(cls, ("Key", name, (("name", name),), ()))

    @classmethod
    def name(cls, name: str) -> Entity:
        """``Name::"<name>"``: a name in the actor registry."""
        return _new(cls, ("Name", name, (("name", name),), ()))

    @classmethod
    def node(cls, node_id: str, groups: Iterable[str] = ()) -> Entity:
        """``Node::"<id>"``: a remote peer, optionally in groups."""
        return cls("Node", node_id, (), tuple(("Group", g) for g in groups))

    @classmethod
    def plugin(cls, plugin: PluginIdentity | str) -> Entity:
        """``Plugin::"<name>"`` as a resource (a messaging or spawn target).

        Pass the target's `PluginIdentity` whenever the host knows it. A bare
        name gives empty ``digest``, ``version`` and ``publisher``, so a
        policy requiring particular values there does not match (one written
        as ``!=`` would).
        """
        if isinstance(plugin, PluginIdentity):
            return plugin.entity
        return cls("Plugin", plugin, _plugin_attrs(plugin, "", "", ""))

    @property
    def uid(self) -> str:
        """The entity's Cedar uid as text, e.g. ``File::"/data/a.txt"``."""
        return f"{self.type}::{cedar_string(self.id)}"


@dataclass(frozen=True, slots=True)
class PluginIdentity:
    """Who a plugin is, as far as policies are concerned.

    The host builds one per loaded component and passes it as the principal
    of every call that component's actors make. Pass the same object each
    time: it is part of the decision cache key.

    Args:
        name: the name the plugin was loaded under (``Plugin::"<name>"``).
        digest: sha256 of the component bytes, hex encoded.
        version: the plugin's version string.
        publisher: who published it (however the application tells).
        groups: names of the groups it belongs to (``Group::"<g>"``).
    """

    name: str
    digest: str
    version: str = ""
    publisher: str = ""
    groups: tuple[str, ...] = ()
    _hash: int = field(init=False, repr=False, compare=False)
    _entity: Entity = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = tuple(self.groups)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(
            self, "_hash", hash((self.name, self.digest, self.version, self.publisher, groups))
        )
        entity = Entity(
            "Plugin",
            self.name,
            _plugin_attrs(self.name, self.digest, self.version, self.publisher),
            tuple(("Group", g) for g in groups),
        )
        object.__setattr__(self, "_entity", entity)

    def __hash__(self) -> int:
        return self._hash

    @property
    def entity(self) -> Entity:
        """The ``Plugin`` entity (attributes and parent groups)."""
        return self._entity

    @property
    def uid(self) -> str:
        """``Plugin::"<name>"``."""
        return self._entity.uid


def _plugin_attrs(
    name: str, digest: str, version: str, publisher: str
) -> tuple[tuple[str, AttrValue], ...]:
    return (("digest", digest), ("name", name), ("publisher", publisher), ("version", version))


def entity_json(entity: Entity) -> dict[str, Any]:
    """The entity in cedarpy's JSON entity format."""
    return {
        "uid": {"type": entity.type, "id": entity.id},
        "attrs": {name: _value_json(value) for name, value in entity.attrs},
        "parents": [{"type": t, "id": i} for t, i in entity.parents],
    }


def _value_json(value: AttrValue) -> Any:
    if isinstance(value, frozenset):
        return sorted((_value_json(v) for v in value), key=repr)
    if isinstance(value, tuple):
        return [_value_json(v) for v in value]
    return value


_NAME_KEYS = ("name",)
_PLUGIN_KEYS = ("digest", "name", "publisher", "version")


def has_stock_shape(entity: Entity) -> bool:
    """Whether ``entity`` is a stock-type entity whose attributes and parents
    certainly conform to the stock schema (as the constructors build them)."""
    attrs, kind = entity.attrs, entity.type
    if kind in ("File", "Host"):
        return resource_problem(entity) is None and not entity.parents
    keys = tuple(name for name, _ in attrs)
    if not all(type(value) is str for _, value in attrs):
        return False
    if kind in ("Key", "Name"):
        return keys == _NAME_KEYS and not entity.parents
    groups_only = all(t == "Group" for t, _ in entity.parents)
    if kind == "Plugin":
        return keys == _PLUGIN_KEYS and groups_only
    return kind == "Node" and not attrs and groups_only


def resource_problem(entity: Entity) -> str | None:
    """Why a stock resource is malformed, or ``None`` if it is well formed.

    The host derives resources from guest arguments; a path that is not
    normalized would slip past ``like "/data/*"`` patterns (``/data/../etc``),
    so such a request is denied rather than evaluated.
    """
    check = _RESOURCE_CHECKS.get(entity.type)
    return None if check is None else check(entity)


def _check_file(entity: Entity) -> str | None:
    path = entity.id
    if entity.attrs != (("path", path),):
        return f"resource {entity.uid}: its path attribute must equal its id"
    if not path.startswith("/") or path.startswith("//") or posixpath.normpath(path) != path:
        return f"resource {entity.uid}: not a normalized absolute path"
    return None


def _check_host(entity: Entity) -> str | None:
    attrs = dict(entity.attrs)
    name, port = attrs.get("name"), attrs.get("port")
    if not isinstance(name, str) or type(port) is not int or f"{name}:{port}" != entity.id:
        return f"resource {entity.uid}: id must be '<name>:<port>' matching its attributes"
    if name != name.lower() or name.endswith(".") or not name or not 0 < port < 65536:
        return f"resource {entity.uid}: host name must be lowercase without a trailing dot"
    return None


_RESOURCE_CHECKS = {"File": _check_file, "Host": _check_host}
