"""The Cedar schema policies are validated against: hostkit's stock schema
plus the fragments applications add for their own actions and resources.

The stock schema's reviewed source is ``capabilities/schema.cedarschema`` at
the top of the repository; `STOCK_SCHEMA_TEXT` below is a verbatim copy so an
installed hostkit has it (a test keeps the two identical).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cedarpy

from .._errors import PolicyError
from ._cedartext import clean_message, line_col, locate_error

_ACTION_IN_RE = re.compile(r"^\s*action\b.*\bin\b", re.MULTILINE)


class CedarSchema:
    """An immutable, parsed Cedar schema made of named fragments.

    Start from `CedarSchema.stock()` and add an application's declarations
    with `extend`; each call returns a new schema and leaves the old one
    usable. Fragments share Cedar's global namespace, so a fragment may
    reference the stock entity types (``principal: [Plugin]``) but not
    redeclare them.

    Example::

        schema = CedarSchema.stock().extend('''
            entity Monster { kind: String };
            action "acme:game/world#spawn-monster" appliesTo {
              principal: [Plugin], resource: [Monster], context: { level: Long }
            };
        ''', origin="acme-game.cedarschema")
    """

    __slots__ = ("_fragments", "_handle", "_has_action_groups", "_text")

    def __init__(self, fragments: tuple[tuple[str, str], ...], handle: cedarpy.Schema) -> None:
        self._fragments = fragments
        self._handle = handle
        self._text = "\n".join(text for _, text in fragments)
        # Cedar's own rendering puts an action's parents on its declaration
        # line. A false positive (an action *named* "... in ...") only makes
        # the authorizer's partitioning more conservative.
        self._has_action_groups = bool(_ACTION_IN_RE.search(str(handle)))

    @classmethod
    def stock(cls) -> CedarSchema:
        """hostkit's stock schema (``capabilities/schema.cedarschema``)."""
        return _STOCK

    @classmethod
    def from_text(cls, text: str, *, origin: str = "<schema>") -> CedarSchema:
        """A schema from Cedar schema text alone (without the stock part).

        Raises:
            PolicyError: the text does not parse or declares inconsistent
                types; the message names ``origin`` and line:column.
        """
        return cls._build(((origin, text),))

    def extend(self, fragment: str | os.PathLike[str], *, origin: str | None = None) -> CedarSchema:
        """This schema plus ``fragment`` (Cedar schema text, or a path to it).

        Args:
            fragment: the declarations to add; a `pathlib.Path` (or other
                path-like) is read as UTF-8, a ``str`` is the text itself.
            origin: the name errors use for the fragment; defaults to the
                file's path, or ``"<fragment N>"``.

        Raises:
            PolicyError: the fragment does not parse, redeclares a type or
                action, or references an undeclared type. ``self`` is unchanged.
        """
        if isinstance(fragment, str):
            text = fragment
            origin = origin or f"<fragment {len(self._fragments)}>"
        else:
            text = Path(fragment).read_text(encoding="utf-8")
            origin = origin or os.fspath(fragment)
        return self._build((*self._fragments, (origin, text)))

    @property
    def text(self) -> str:
        """The whole schema source, fragments joined in order."""
        return self._text

    @property
    def origins(self) -> tuple[str, ...]:
        """The names of the fragments, stock first."""
        return tuple(origin for origin, _ in self._fragments)

    @property
    def extends_stock(self) -> bool:
        """Whether this is the stock schema or an extension of it."""
        return self._fragments[:1] == _STOCK._fragments

    @property
    def has_action_groups(self) -> bool:
        """Whether any action is declared ``in`` another (an action group)."""
        return self._has_action_groups

    @property
    def handle(self) -> cedarpy.Schema:
        """The parsed cedarpy schema (for passing to cedarpy directly)."""
        return self._handle

    def __repr__(self) -> str:
        return f"<CedarSchema {' + '.join(self.origins)}>"

    @classmethod
    def _build(cls, fragments: tuple[tuple[str, str], ...]) -> CedarSchema:
        text = "\n".join(t for _, t in fragments)
        try:
            handle = cedarpy.Schema.from_str(text)
        except ValueError as exc:
            raise _schema_error(fragments, str(exc)) from None
        return cls(fragments, handle)


def _schema_error(fragments: tuple[tuple[str, str], ...], message: str) -> PolicyError:
    text = "\n".join(t for _, t in fragments)
    # Earlier fragments were valid on their own, so look in the newest first.
    newest_start = len(text) - len(fragments[-1][1])
    offset = locate_error(text, message, cedarpy.Schema.from_str, search_from=newest_start)
    start = 0
    for origin, fragment in fragments:
        if offset <= start + len(fragment):
            line, column = line_col(fragment, offset - start)
            return PolicyError(f"{origin}:{line}:{column}: schema error: {clean_message(message)}")
        start += len(fragment) + 1
    return PolicyError(f"{fragments[-1][0]}: schema error: {clean_message(message)}")


STOCK_SCHEMA_TEXT = """\
// hostkit capability schema (Cedar schema syntax).
//
// Every host call a plugin makes is one Cedar request:
//   principal  the calling plugin, Plugin::"<name>" (or a remote peer, Node::"<id>")
//   action     the WIT function, Action::"<package>/<interface>#<function>"
//   resource   what the call touches, derived by the host from the arguments
//   context    the arguments a policy may constrain (sizes, methods, timeouts)
// Nothing is allowed unless a `permit` policy matches and no `forbid` does.
//
// Policies are validated against this schema when they are loaded: a policy
// naming an action, entity type or attribute that is not declared here, or
// comparing an attribute with a value of the wrong type, is rejected.
// Requests are validated too: a context that does not have exactly the
// attributes declared for its action is refused (and so denied).
//
// Applications add their own entity types and actions as schema fragments
// (hostkit.capabilities.CedarSchema.extend). A fragment may not redeclare
// anything below.

// ---------------------------------------------------------------- principals

// A named set of plugins or nodes. Groups may nest.
entity Group in [Group];

// A loaded plugin: the principal of every call its actors make, and the
// resource of calls that target it (messaging, spawning). Every attribute is
// always present; `digest` is the sha256 of the component, hex encoded.
entity Plugin in [Group] {
  name: String,
  digest: String,
  version: String,
  publisher: String
};

// A remote hostkit node reached over federation, identified by its node id.
entity Node in [Group];

// ----------------------------------------------------------------- resources

// A file, named by its normalized absolute path (no `.`, `..` or `//`).
// `path` equals the entity id; policies match it with `like`.
entity File {
  path: String
};

// An outbound network endpoint, id "<name>:<port>". `name` is the host the
// plugin asked for: a lowercase IDNA host name without a trailing dot, or an
// IP address literal (IPv6 in brackets, "[::1]"); `port` is the scheme's
// default when the URL gives none.
entity Host {
  name: String,
  port: Long
};

// A key in the calling plugin's own key-value store (stores are per plugin).
entity Key {
  name: String
};

// A name in the host's actor registry (process.register / process.whereis).
entity Name {
  name: String
};

// ------------------------------------------------------- hostkit:host/files

// read and stat: the resource is the file (or directory) named.
action "hostkit:host/files#read" appliesTo {
  principal: [Plugin],
  resource: [File],
  context: {}
};

action "hostkit:host/files#stat" appliesTo {
  principal: [Plugin],
  resource: [File],
  context: {}
};

// `size`: bytes to be written (decoded); `mode`: "truncate" or "append".
action "hostkit:host/files#write" appliesTo {
  principal: [Plugin],
  resource: [File],
  context: { size: Long, mode: String }
};

// The resource is the directory being listed.
action "hostkit:host/files#list-dir" appliesTo {
  principal: [Plugin],
  resource: [File],
  context: {}
};

// -------------------------------------------------------- hostkit:host/http

// `method`: upper-case HTTP method; `path`: the URL path and query;
// `size`: request body bytes (decoded).
action "hostkit:host/http#request" appliesTo {
  principal: [Plugin],
  resource: [Host],
  context: { method: String, path: String, size: Long }
};

// ---------------------------------------------------------- hostkit:host/kv

action "hostkit:host/kv#get" appliesTo {
  principal: [Plugin],
  resource: [Key],
  context: {}
};

// `size`: bytes of the value stored.
action "hostkit:host/kv#set" appliesTo {
  principal: [Plugin],
  resource: [Key],
  context: { size: Long }
};

action "hostkit:host/kv#delete" appliesTo {
  principal: [Plugin],
  resource: [Key],
  context: {}
};

// The resource is the prefix being listed, Key::"<prefix>".
action "hostkit:host/kv#list-keys" appliesTo {
  principal: [Plugin],
  resource: [Key],
  context: {}
};

// ------------------------------------- hostkit:host/clock, random and log

// For these the resource is the calling plugin itself.
action "hostkit:host/clock#now-ms" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: {}
};

action "hostkit:host/clock#monotonic-ns" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: {}
};

action "hostkit:host/random#next-u64" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: {}
};

// `count`: bytes asked for.
action "hostkit:host/random#hex-bytes" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: { count: Long }
};

// `level`: trace, debug, info, warn or error; `size`: message bytes.
action "hostkit:host/log#write" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: { level: String, size: Long }
};

// --------------------------------------------------- hostkit:plugin/process

// self, now and log: the resource is the calling plugin itself.
action "hostkit:plugin/process#self" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: {}
};

action "hostkit:plugin/process#now" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: {}
};

// `level`: trace, debug, info, warn or error; `size`: message bytes.
action "hostkit:plugin/process#log" appliesTo {
  principal: [Plugin],
  resource: [Plugin],
  context: { level: String, size: Long }
};

// The resource is the plugin whose component is spawned; `size`: init args bytes.
action "hostkit:plugin/process#spawn" appliesTo {
  principal: [Plugin, Node],
  resource: [Plugin],
  context: { size: Long }
};

// The resource is the plugin of the target actor; `size`: payload bytes.
action "hostkit:plugin/process#send" appliesTo {
  principal: [Plugin, Node],
  resource: [Plugin],
  context: { size: Long }
};

action "hostkit:plugin/process#call" appliesTo {
  principal: [Plugin, Node],
  resource: [Plugin],
  context: { size: Long, timeout_ms: Long }
};

// Links and monitors are capabilities: a link lets either end's abnormal
// exit end the other (exit signals travel only over links), a monitor tells
// the watcher when and why the target exits. The resource is the plugin of
// the target actor. Unlink and demonitor only remove and are not gated.
action "hostkit:plugin/process#link" appliesTo {
  principal: [Plugin, Node],
  resource: [Plugin],
  context: {}
};

action "hostkit:plugin/process#monitor" appliesTo {
  principal: [Plugin, Node],
  resource: [Plugin],
  context: {}
};

action "hostkit:plugin/process#register" appliesTo {
  principal: [Plugin],
  resource: [Name],
  context: {}
};

action "hostkit:plugin/process#whereis" appliesTo {
  principal: [Plugin, Node],
  resource: [Name],
  context: {}
};

// --------------------------------------------------------------- federation

// A peer asks to link with this node; the resource is the local node.
action "hostkit:federation#connect" appliesTo {
  principal: [Node],
  resource: [Node],
  context: {}
};
"""

_STOCK = CedarSchema._build((("capabilities/schema.cedarschema", STOCK_SCHEMA_TEXT),))
