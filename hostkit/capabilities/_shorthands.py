"""Python shorthands for common grants, compiled to readable Cedar policies.

A capability (`FileRead`, `NetworkOutbound`, `Messaging`, ...) says what may
be done; binding it to a principal makes a `Grant`, which is one Cedar
``permit`` policy with an ``@id``::

    >>> print(FileRead("/data/*.txt").for_plugin("indexer").to_cedar())
    @id("plugin:indexer/file-read:/data/*.txt")
    permit (
      principal == Plugin::"indexer",
      action in [Action::"hostkit:host/files#read", Action::"hostkit:host/files#stat"],
      resource
    )
    when {
      resource.path like "/data/*.txt" &&
      // "*" stays inside one path segment
      !(resource.path like "*/*/*/*")
    };

`grant(...)` binds several at once. Grants are loaded like policy files
(`Authorizer([*grant(FileRead("/data/*"), plugin="x")])`) and validated the
same way, so what an operator prints is exactly what is enforced.

Wildcards: Cedar's ``like`` has one wildcard, ``*``, and it matches any
characters including ``/``. In file patterns hostkit gives ``*`` the shell
meaning (inside one path segment) by adding a depth clause, and ``**`` as the
last segment means "anything below" (``/data/**``); a ``*`` above a final
``/**`` cannot be kept inside its segment in Cedar, so such a pattern is
refused rather than compiled wider than it reads. Elsewhere (plugin names,
keys, host names) ``*`` is Cedar's: any characters.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._cedartext import cedar_pattern, cedar_string, split_statements
from ._entities import Entity

_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(\*|(\*\.)?{_LABEL}(\.{_LABEL})*)$")
_IP_LITERAL_RE = re.compile(r"^(\[[0-9a-f:.]+\]|[0-9.]+)$")

FILES = "hostkit:host/files#"
HTTP_REQUEST = "hostkit:host/http#request"
KV = "hostkit:host/kv#"
PROCESS = "hostkit:plugin/process#"


@dataclass(frozen=True)
class Capability(ABC):
    """Base of the shorthands: what a grant permits, without the who.

    Subclasses say which actions, which resource condition and which context
    conditions; `for_plugin`, `for_group`, `for_node` and `for_any_plugin`
    bind one to a principal.
    """

    @abstractmethod
    def actions(self) -> tuple[str, ...]:
        """The action ids this capability covers."""

    def conditions(self) -> list[str]:
        """Cedar boolean expressions that must all hold (``when`` clauses);
        entries starting with ``//`` are comments printed above the next one."""
        return []

    @abstractmethod
    def slug(self) -> str:
        """Short text naming the capability in the default policy id."""

    def for_plugin(self, name: str, *, id: str | None = None) -> Grant:
        """Grant this to the plugin loaded as ``name``."""
        return Grant(self, f"principal == Plugin::{cedar_string(name)}", f"plugin:{name}", id)

    def for_group(self, name: str, *, id: str | None = None) -> Grant:
        """Grant this to every plugin (or node) in ``Group::"<name>"``."""
        return Grant(self, f"principal in Group::{cedar_string(name)}", f"group:{name}", id)

    def for_node(self, node_id: str, *, id: str | None = None) -> Grant:
        """Grant this to a remote peer (only for actions nodes may take)."""
        return Grant(self, f"principal == Node::{cedar_string(node_id)}", f"node:{node_id}", id)

    def for_any_plugin(self, *, id: str | None = None) -> Grant:
        """Grant this to every plugin."""
        return Grant(self, "principal is Plugin", "any-plugin", id)


@dataclass(frozen=True)
class Grant:
    """A capability bound to a principal: one Cedar ``permit`` policy.

    Build with `grant` or a capability's ``for_*`` methods. ``id`` defaults
    to ``<subject>/<capability>``, e.g. ``plugin:x/file-read:/data/*``.
    """

    capability: Capability
    principal_scope: str
    subject: str
    explicit_id: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """The policy id decisions and audit records name."""
        return self.explicit_id or f"{self.subject}/{self.capability.slug()}"

    @property
    def origin(self) -> str:
        """What load errors call this grant."""
        return f"<grant {self.id}>"

    def to_cedar(self) -> str:
        """The Cedar policy text of this grant."""
        actions = self.capability.actions()
        if len(actions) == 1:
            action_scope = f"action == Action::{cedar_string(actions[0])}"
        else:
            listed = ", ".join(f"Action::{cedar_string(a)}" for a in actions)
            action_scope = f"action in [{listed}]"
        text = (
            f"@id({cedar_string(self.id)})\n"
            f"permit (\n  {self.principal_scope},\n  {action_scope},\n  resource\n)"
        )
        conditions = self.capability.conditions()
        if conditions:
            text += "\nwhen {\n" + _render_conditions(conditions) + "\n}"
        return text + ";"


def _render_conditions(conditions: list[str]) -> str:
    expressions = sum(1 for c in conditions if not c.startswith("//"))
    lines = []
    for condition in conditions:
        if not condition.startswith("//"):
            expressions -= 1
            if expressions:
                condition += " &&"
        lines.append("  " + condition)
    return "\n".join(lines)


def grant(
    *capabilities: Capability,
    plugin: str | None = None,
    group: str | None = None,
    node: str | None = None,
    any_plugin: bool = False,
) -> tuple[Grant, ...]:
    """Bind ``capabilities`` to exactly one principal.

    Example::

        grant(FileRead("/data/**"), NetworkOutbound("api.example.com"), plugin="indexer")

    Raises:
        ValueError: not exactly one of ``plugin``, ``group``, ``node`` and
            ``any_plugin`` was given.
    """
    chosen = [v for v in (plugin, group, node) if v is not None] + ([True] if any_plugin else [])
    if len(chosen) != 1:
        raise ValueError("grant() needs exactly one of plugin=, group=, node= or any_plugin=True")
    grants: dict[str, Grant] = {}
    for capability in capabilities:
        if plugin is not None:
            g = capability.for_plugin(plugin)
        elif group is not None:
            g = capability.for_group(group)
        elif node is not None:
            g = capability.for_node(node)
        else:
            g = capability.for_any_plugin()
        grants.setdefault(g.id, g)  # the same capability twice is one grant
    return tuple(grants.values())


# ------------------------------------------------------------------ files


@dataclass(frozen=True)
class _FileCapability(Capability):
    pattern: str
    _verbs: tuple[str, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        _check_file_pattern(self.pattern)

    def actions(self) -> tuple[str, ...]:
        return tuple(FILES + verb for verb in self._verbs)

    def conditions(self) -> list[str]:
        return _path_conditions(self.pattern)

    def slug(self) -> str:
        return f"file-{self._verbs[0]}:{self.pattern}"


@dataclass(frozen=True)
class FileRead(_FileCapability):
    """Read files matching ``pattern`` and stat them
    (``hostkit:host/files#read``, ``#stat``).

    ``pattern`` is an absolute path where ``*`` matches within one path
    segment and a final ``/**`` matches everything below, at any depth:
    ``FileRead("/data/*.txt")``, ``FileRead("/data/**")``. A ``*`` above a
    final ``/**`` (``"/home/*/public/**"``) is refused with ``ValueError``:
    Cedar cannot keep it inside one segment. ``\\*`` is a literal ``*``.
    """

    _verbs: tuple[str, ...] = field(default=("read", "stat"), init=False, repr=False)


@dataclass(frozen=True)
class FileList(_FileCapability):
    """List (and stat) directories matching ``pattern``
    (``hostkit:host/files#list-dir``, ``#stat``)."""

    _verbs: tuple[str, ...] = field(default=("list-dir", "stat"), init=False, repr=False)

    def slug(self) -> str:
        return f"file-list:{self.pattern}"


@dataclass(frozen=True)
class FileWrite(_FileCapability):
    """Write files matching ``pattern`` (``hostkit:host/files#write``).

    Args:
        pattern: as for `FileRead`.
        max_size: the most bytes one write may carry, or ``None``.
        append_only: only appending writes (``mode == "append"``).
    """

    max_size: int | None = None
    append_only: bool = False
    _verbs: tuple[str, ...] = field(default=("write",), init=False, repr=False)

    def conditions(self) -> list[str]:
        conditions = _path_conditions(self.pattern) + _size_conditions(self.max_size)
        if self.append_only:
            conditions.append('context.mode == "append"')
        return conditions

    def slug(self) -> str:
        return super().slug() + _size_slug(self.max_size) + (" append" if self.append_only else "")


def _check_file_pattern(pattern: str) -> None:
    segments = pattern.split("/")
    if not pattern.startswith("/") or pattern == "/":
        raise ValueError(f"file pattern {pattern!r} must be an absolute path below /")
    for index, segment in enumerate(segments[1:], start=1):
        if segment in ("", ".", ".."):
            raise ValueError(f"file pattern {pattern!r}: empty, '.' or '..' segment")
        if "**" in segment and (segment != "**" or index != len(segments) - 1):
            raise ValueError(f"file pattern {pattern!r}: '**' is only allowed as the last segment")
    if pattern.endswith("/**") and "*" in pattern[:-3].replace("\\*", ""):
        # Cedar's `like` lets `*` match "/" and has no per-segment test, so a
        # `*` above a `/**` could match several segments: refuse, don't widen.
        raise ValueError(
            f"file pattern {pattern!r}: a '*' before a final '/**' cannot be enforced "
            "within one segment in Cedar; grant each directory (e.g. "
            "'/home/alice/public/**') or write a Cedar policy"
        )


def _path_conditions(pattern: str) -> list[str]:
    if pattern.endswith("/**"):
        return [f"resource.path like {cedar_pattern(pattern[:-1])}"]
    unescaped = pattern.replace("\\*", "")
    if "*" not in unescaped:
        return [f"resource.path == {cedar_string(pattern.replace(chr(92) + '*', '*'))}"]
    # A normalized path matching `pattern` with no more "/" than the pattern
    # has cannot have a "*" that spans a "/".
    deeper = "*/" * (pattern.count("/") + 1) + "*"
    return [
        f"resource.path like {cedar_pattern(pattern)}",
        '// "*" stays inside one path segment',
        f"!(resource.path like {cedar_pattern(deeper)})",
    ]


# -------------------------------------------------------------------- http


@dataclass(frozen=True)
class NetworkOutbound(Capability):
    """Make HTTP requests to ``host`` on ``port`` (``hostkit:host/http#request``).

    Args:
        host: a host name (``"api.example.com"``), ``"*.example.com"`` for
            any subdomain at any depth (not ``example.com`` itself), an IP
            literal, or ``"*"`` for any host.
        port: the port, or ``None`` for any port.
        methods: the HTTP methods allowed (upper case), or ``None`` for any.
        max_size: the largest request body in bytes, or ``None``.
    """

    host: str
    port: int | None = 443
    methods: tuple[str, ...] | None = None
    max_size: int | None = None

    def __post_init__(self) -> None:
        host = self.host.lower()
        if not (_HOSTNAME_RE.match(host) or _IP_LITERAL_RE.match(host)):
            raise ValueError(f"host {self.host!r}: expected a host name, '*.domain' or '*'")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port {self.port!r} is not in 1..65535")
        object.__setattr__(self, "host", host)
        if self.methods is not None:
            object.__setattr__(self, "methods", tuple(m.upper() for m in self.methods))

    def actions(self) -> tuple[str, ...]:
        return (HTTP_REQUEST,)

    def conditions(self) -> list[str]:
        conditions = []
        if self.host == "*":
            pass
        elif self.host.startswith("*."):
            conditions.append(f"resource.name like {cedar_pattern(self.host)}")
        else:
            conditions.append(f"resource.name == {cedar_string(self.host)}")
        if self.port is not None:
            conditions.append(f"resource.port == {self.port}")
        if self.methods is not None:
            listed = ", ".join(cedar_string(m) for m in self.methods)
            conditions.append(f"[{listed}].contains(context.method)")
        return conditions + _size_conditions(self.max_size)

    def slug(self) -> str:
        slug = f"http:{self.host}:{'*' if self.port is None else self.port}"
        if self.methods is not None:
            slug += " methods=" + ",".join(self.methods)
        return slug + _size_slug(self.max_size)


# ------------------------------------------------------ processes and state


@dataclass(frozen=True)
class Messaging(Capability):
    """Send to (and, with ``call=True``, call) actors of plugins whose name
    matches ``pattern`` (``hostkit:plugin/process#send`` / ``#call``)."""

    pattern: str
    call: bool = True
    max_size: int | None = None

    def actions(self) -> tuple[str, ...]:
        return (PROCESS + "send", PROCESS + "call") if self.call else (PROCESS + "send",)

    def conditions(self) -> list[str]:
        return [_name_condition(self.pattern), *_size_conditions(self.max_size)]

    def slug(self) -> str:
        verb = "message" if self.call else "send"
        return f"{verb}:{self.pattern}{_size_slug(self.max_size)}"


@dataclass(frozen=True)
class Spawn(Capability):
    """Spawn actors from components loaded under a name matching ``pattern``
    (``hostkit:plugin/process#spawn``)."""

    pattern: str

    def actions(self) -> tuple[str, ...]:
        return (PROCESS + "spawn",)

    def conditions(self) -> list[str]:
        return [_name_condition(self.pattern)]

    def slug(self) -> str:
        return f"spawn:{self.pattern}"


@dataclass(frozen=True)
class Register(Capability):
    """Register names matching ``pattern`` in the actor registry
    (``hostkit:plugin/process#register``). Gate this: a registered name
    receives the messages sent to it."""

    pattern: str

    def actions(self) -> tuple[str, ...]:
        return (PROCESS + "register",)

    def conditions(self) -> list[str]:
        return [_name_condition(self.pattern)]

    def slug(self) -> str:
        return f"register:{self.pattern}"


@dataclass(frozen=True)
class KeyValue(Capability):
    """Read (get, list-keys) and with ``write=True`` also set and delete keys
    matching ``pattern`` in the plugin's own store (``hostkit:host/kv#...``).
    For list-keys the pattern is matched against the prefix listed."""

    pattern: str
    write: bool = False

    def actions(self) -> tuple[str, ...]:
        verbs = ("get", "list-keys", "set", "delete") if self.write else ("get", "list-keys")
        return tuple(KV + v for v in verbs)

    def conditions(self) -> list[str]:
        return [_name_condition(self.pattern)]

    def slug(self) -> str:
        return f"kv-{'write' if self.write else 'read'}:{self.pattern}"


@dataclass(frozen=True)
class Call(Capability):
    """Any action, e.g. an application's own: the generic shorthand.

    Args:
        action: the action id, e.g. ``"acme:game/world#spawn-monster"``.
        resource: an `Entity` (only that one), an entity type name such as
            ``"Monster"`` (any of that type), or ``None`` (any resource).
        when: an extra Cedar condition, e.g. ``'context.level <= 10'``.
    """

    action: str
    resource: Entity | str | None = None
    when: str | None = None

    def __post_init__(self) -> None:
        if self.when is not None:
            probe = f"permit(principal, action, resource) when {{ ({self.when}) }};"
            statements = split_statements(probe)
            if len(statements) != 1 or statements[0].end != len(probe):
                raise ValueError(f"when= must be one Cedar expression, got {self.when!r}")

    def actions(self) -> tuple[str, ...]:
        return (self.action,)

    def conditions(self) -> list[str]:
        conditions = []
        if isinstance(self.resource, Entity):
            conditions.append(f"resource == {self.resource.uid}")
        elif self.resource is not None:
            conditions.append(f"resource is {self.resource}")
        if self.when:
            conditions.append(f"({self.when})")
        return conditions

    def slug(self) -> str:
        slug = f"call:{self.action}"
        if isinstance(self.resource, Entity):
            slug += f" on {self.resource.uid}"
        elif self.resource is not None:
            slug += f" on {self.resource}"
        return slug + (f" when {self.when}" if self.when else "")


def _name_condition(pattern: str) -> str:
    unescaped = pattern.replace("\\*", "")
    if "*" in unescaped:
        return f"resource.name like {cedar_pattern(pattern)}"
    return f"resource.name == {cedar_string(pattern.replace(chr(92) + '*', '*'))}"


def _size_conditions(max_size: int | None) -> list[str]:
    if max_size is None:
        return []
    if max_size < 0:
        raise ValueError(f"max_size must be >= 0, got {max_size}")
    return [f"context.size <= {max_size}"]


def _size_slug(max_size: int | None) -> str:
    return "" if max_size is None else f" size<={max_size}"


def grants_to_cedar(grants: Iterable[Grant]) -> str:
    """All ``grants`` as one Cedar text, blank-line separated."""
    return "\n\n".join(g.to_cedar() for g in grants)
