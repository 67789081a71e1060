"""Read ``host.toml`` into a checked :class:`HostFile`.

Three passes, each failing with a :class:`~hostkit.ConfigError` that names
the file, the key (``supervisor.children[1].component``) and what is
expected there:

1. TOML syntax (``tomllib``; the error carries line and column);
2. shape and types (msgspec decodes into the structs of :mod:`._schema`);
3. meaning: names that refer to each other, files that must exist, values
   the hostkit constructors refuse (a strategy name, a host pattern).

Paths in the file are relative to the file's own directory. Nothing is
opened, loaded or created here; :func:`~._boot.open_configured_host` does
that.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from .._errors import ConfigError, HostkitError
from ..capabilities import (
    FileList,
    FileRead,
    FileWrite,
    KeyValue,
    Messaging,
    NetworkOutbound,
    Register,
    Spawn,
)
from ..capabilities._shorthands import Capability, Grant
from ..supervision import (
    ActorStart,
    Backoff,
    ChildSpec,
    SupervisorFlags,
    SupervisorStart,
)
from ._federation import check_federation
from ._schema import (
    RESERVED_SECTIONS,
    SECTIONS,
    BackoffTable,
    ChildTable,
    GrantTable,
    HostFileTables,
)

#: Largest config file read (a host.toml is a few KiB; this is a typo guard).
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HostFile:
    """A checked ``host.toml``: its tables, with every path made absolute.

    Get one from :func:`load_config`; pass it (or the path) to
    :func:`open_configured_host` or run it with ``hostkit run``.

    Attributes:
        path: The file it was read from (absolute).
        tables: The decoded tables, paths as written in the file.
        grants: The ``[[grants]]`` as shorthand :class:`~hostkit.capabilities.Grant` s.
        flags: The root supervisor's flags.
        children: The root supervisor's child specs, in start order.
    """

    path: Path
    tables: HostFileTables
    grants: tuple[Grant, ...]
    flags: SupervisorFlags
    children: tuple[ChildSpec, ...]

    def resolve(self, value: str | os.PathLike[str]) -> Path:
        """``value`` relative to the file's directory (``~`` expanded)."""
        return (self.path.parent / Path(value).expanduser()).resolve()

    @property
    def component_paths(self) -> dict[str, Path]:
        """Component name -> absolute ``.wasm`` path, in file order."""
        return {c.name: self.resolve(c.path) for c in self.tables.components}


def load_config(path: str | os.PathLike[str]) -> HostFile:
    """Read and check the host configuration at ``path``.

    Raises:
        ConfigError: the file is missing, is not TOML, or a key is unknown,
            of the wrong type or refers to something that does not exist;
            the message names the file and the key.
    """
    file = Path(path).expanduser().resolve()
    shown = str(path)
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read the host configuration: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{shown}: larger than {MAX_CONFIG_BYTES} bytes; is it a host.toml?")
    return parse_config(raw, file, shown=shown)


def parse_config(
    text: str | bytes, path: str | os.PathLike[str], *, shown: str | None = None
) -> HostFile:
    """Check configuration ``text`` as if read from ``path`` (for relative paths).

    Raises:
        ConfigError: as for :func:`load_config`.
    """
    file = Path(path).expanduser().resolve()
    where = shown or str(path)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"{exc.reason} at byte {exc.start}"
            raise ConfigError(f"{where}: not UTF-8 text ({problem})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    for key in data:
        if key in RESERVED_SECTIONS:
            raise ConfigError(
                f"{where}: [{key}]: {RESERVED_SECTIONS[key]} in this version of hostkit; "
                "remove the section"
            )
        if key not in SECTIONS:
            raise ConfigError(
                f"{where}: unknown section [{key}]; expected one of: {', '.join(SECTIONS)}"
            )
    try:
        tables = msgspec.convert(data, HostFileTables)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {_explain(str(exc))}") from None
    checker = _Checker(file, where, tables)
    return checker.check()


# -- msgspec's messages, rewritten around the key --------------------------------

_AT = re.compile(r"^(?P<what>.*) - at `\$(?P<path>[^`]*)`$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")


def _explain(message: str) -> str:
    """``Expected `int`, got `str` - at `$.host.batch_size``` ->
    ``host.batch_size: expected `int`, got `str```."""
    m = _AT.match(message)
    if m is None:
        return message
    path, what = m["path"].lstrip("."), m["what"]
    unknown = _UNKNOWN.match(what)
    if unknown:
        keys = _keys_at(path)
        key = f"{path}.{unknown['key']}" if path else unknown["key"]
        expected = f"; expected one of: {', '.join(keys)}" if keys else ""
        return f"{key}: unknown key{expected}"
    missing = _MISSING.match(what)
    if missing:
        key = f"{path}.{missing['key']}" if path else missing["key"]
        return f"{key}: required, missing"
    what = what.replace(" | null`", "`")  # TOML has no null: an absent key is the default
    return f"{path or '(top level)'}: {what[0].lower()}{what[1:]}"


def _keys_at(path: str) -> list[str]:
    """The keys the table at ``path`` (``components[0]``) allows."""
    tp: Any = HostFileTables
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        tp = _table_type(tp)
        if tp is None:
            return []
        if part.startswith("["):
            continue
        hints = typing.get_type_hints(tp, include_extras=False)
        if part not in hints:
            return []
        tp = hints[part]
    tp = _table_type(tp)
    return list(tp.__struct_fields__) if tp is not None else []


def _table_type(tp: Any) -> Any:
    """The Struct inside ``tp`` (through ``list[...]``, ``X | None``), if any."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    for arg in typing.get_args(tp):
        found = _table_type(arg)
        if found is not None:
            return found
    return None


# -- meaning ----------------------------------------------------------------------


class _Checker:
    """The third pass: cross-references, files, hostkit's own constructors."""

    def __init__(self, file: Path, where: str, tables: HostFileTables) -> None:
        self.file = file
        self.where = where
        self.tables = tables

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}")

    def resolve(self, value: str) -> Path:
        return (self.file.parent / Path(value).expanduser()).resolve()

    def check(self) -> HostFile:
        t = self.tables
        self.names = self._components()
        self._existing("policies.files", t.policies.files)
        self._existing("policies.schema", t.policies.schema)
        for prefix, root in t.files.roots.items():
            host_dir = root if isinstance(root, str) else root.path
            writable = not isinstance(root, str) and root.writable
            if not writable and not self.resolve(host_dir).is_dir():
                raise self.fail(
                    f"files.roots.{prefix!r}",
                    f"directory not found: {self.resolve(host_dir)} "
                    "(read-only roots must exist; writable ones are created)",
                )
        grants = tuple(g for i, entry in enumerate(t.grants) for g in self._grant(i, entry))
        sup = t.supervisor
        flags = self._flags("supervisor", sup.strategy, sup.intensity, sup.period, sup.backoff)
        children = self._children("supervisor.children", sup.children, flags)
        if t.federation is not None:
            check_federation(self.fail, self.resolve, t.host.node, t.federation)
        return HostFile(self.file, t, grants, flags, children)

    def _components(self) -> set[str]:
        names: set[str] = set()
        for i, comp in enumerate(self.tables.components):
            key = f"components[{i}]"
            if comp.name in names:
                raise self.fail(f"{key}.name", f"{comp.name!r} is used by an earlier component")
            names.add(comp.name)
            if not self.resolve(comp.path).is_file():
                raise self.fail(f"{key}.path", f"file not found: {self.resolve(comp.path)}")
        return names

    def _existing(self, key: str, paths: Iterable[str]) -> None:
        for i, p in enumerate(paths):
            if not self.resolve(p).exists():
                raise self.fail(f"{key}[{i}]", f"not found: {self.resolve(p)}")

    def _known(self, key: str, name: str) -> None:
        if name not in self.names:
            known = ", ".join(sorted(self.names)) or "none; add [[components]]"
            raise self.fail(key, f"no component named {name!r} (known: {known})")

    def _grant(self, i: int, g: GrantTable) -> list[Grant]:
        key = f"grants[{i}]"
        subjects = [g.plugin is not None, g.group is not None, g.any_plugin]
        if sum(subjects) != 1:
            raise self.fail(
                key, "needs exactly one of plugin = ..., group = ... or any_plugin = true"
            )
        if g.plugin is not None:
            self._known(f"{key}.plugin", g.plugin)
        caps: list[Capability] = []

        def add(field: str, j: int, make: Any, *args: Any) -> None:
            try:
                caps.append(make(*args))
            except (ValueError, HostkitError) as exc:
                raise self.fail(f"{key}.{field}[{j}]", str(exc)) from None

        for field, cls in (("file_read", FileRead), ("file_list", FileList),
                           ("file_write", FileWrite), ("messaging", Messaging),
                           ("spawn", Spawn), ("register", Register)):
            for j, pattern in enumerate(getattr(g, field)):
                add(field, j, cls, pattern)
        for j, net in enumerate(g.network):
            if isinstance(net, str):
                add("network", j, NetworkOutbound, net, None)
            else:
                methods = tuple(net.methods) if net.methods is not None else None
                add("network", j, NetworkOutbound, net.host, net.port, methods)
        for j, pattern in enumerate(g.kv_read):
            add("kv_read", j, KeyValue, pattern)
        for j, pattern in enumerate(g.kv_write):
            add("kv_write", j, KeyValue, pattern, True)
        if not caps:
            raise self.fail(key, "grants nothing; add file_read, network, messaging, ...")
        out = []
        for cap in caps:
            if g.plugin is not None:
                out.append(cap.for_plugin(g.plugin))
            elif g.group is not None:
                out.append(cap.for_group(g.group))
            else:
                out.append(cap.for_any_plugin())
        return out

    def _flags(
        self, key: str, strategy: str, intensity: int, period: float, backoff: BackoffTable | None
    ) -> SupervisorFlags:
        try:
            b = None
            if backoff is not None:
                b = Backoff(backoff.initial, backoff.factor, backoff.max, backoff.jitter,
                            backoff.reset_after)
            return SupervisorFlags(strategy, intensity, period, backoff=b)
        except HostkitError as exc:
            raise self.fail(key, str(exc)) from None

    def _children(
        self, key: str, entries: list[ChildTable], flags: SupervisorFlags
    ) -> tuple[ChildSpec, ...]:
        specs = []
        for i, c in enumerate(entries):
            here = f"{key}[{i}]"
            if (c.component is None) == (c.children is None):
                raise self.fail(
                    here, "give either component = ... (an actor) or children = [...] "
                    "(a nested supervisor), not both or neither"
                )
            try:
                if c.component is not None:
                    self._known(f"{here}.component", c.component)
                    nested = ("strategy", "intensity", "period", "backoff")
                    stray = [n for n in nested if getattr(c, n) is not None]
                    if stray:
                        raise self.fail(f"{here}.{stray[0]}", "only a nested supervisor has this")
                    start: object = ActorStart(c.component, c.init, c.name, c.trap_exit)
                    kind = "worker"
                else:
                    sub = self._flags(
                        here, c.strategy or "one_for_one",
                        1 if c.intensity is None else c.intensity,
                        5.0 if c.period is None else c.period, c.backoff,
                    )
                    assert c.children is not None
                    nested_specs = self._children(f"{here}.children", c.children, sub)
                    start = SupervisorStart(sub, nested_specs)
                    kind = "supervisor"
                specs.append(ChildSpec(c.id, start, c.restart, c.shutdown, c.significant, kind))
            except ConfigError:
                raise
            except HostkitError as exc:
                raise self.fail(here, str(exc)) from None
        ids = [s.id for s in specs]
        for i, ident in enumerate(ids):
            if ident in ids[:i]:
                raise self.fail(f"{key}[{i}].id", f"{ident!r} is used by an earlier child")
        return tuple(specs)

