"""``hostkit.toml``: a plugin project's manifest, and its copy inside the
built component.

::

    [plugin]
    name = "hello"                    # the component name hosts load it under
    version = "0.1.0"
    world = "hostkit:host/full-plugin"

    [build]
    app = "src"                       # the directory with app.py
    wit = "wit"                       # optional: the package defining `world`
    out = "build/hello.wasm"

    [capabilities]                    # what it asks for; an operator grants
    files-read = ["/data/**"]
    files-write = ["/out/**"]
    http = ["api.example.com", "127.0.0.1:8080"]
    kv = ["notes/*"]
    messaging = ["billing-*"]

The capabilities are a *request*: nothing is granted by building. `hostkit
build` embeds the manifest in the component as the custom section
``hostkit:manifest`` so `hostkit inspect` can show what a ``.wasm`` asks for
wherever it travels. The section is read with bounds checks: the component
is untrusted input.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import BuildError

__all__ = [
    "CAPABILITY_KEYS",
    "MANIFEST_NAME",
    "SECTION_NAME",
    "Manifest",
    "embed_manifest",
    "load_manifest",
    "parse_manifest",
    "read_embedded_manifest",
]

MANIFEST_NAME = "hostkit.toml"
SECTION_NAME = "hostkit:manifest"
#: The capability kinds a manifest may request, with what each value means.
CAPABILITY_KEYS: dict[str, str] = {
    "files-read": "guest path patterns it reads (FileRead)",
    "files-write": "guest path patterns it writes (FileWrite)",
    "http": "hosts it requests, 'name' or 'name:port' (NetworkOutbound)",
    "kv": "key patterns of its own key-value store it reads and writes (KeyValue)",
    "messaging": "plugin name patterns it sends to and calls (Messaging)",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_SECTION = 64 * 1024


@dataclass(frozen=True)
class Manifest:
    """A parsed, checked ``hostkit.toml``; paths resolved against ``root``."""

    name: str
    version: str
    world: str
    root: Path
    app: Path
    out: Path
    wit: Path | None
    deps: dict[str, Path] = field(default_factory=dict)
    capabilities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text: str = ""

    def grants(self) -> tuple[Any, ...]:
        """The requested capabilities as shorthand grants for this plugin
        (what an operator would write to grant exactly the request)."""
        return requested_grants(self.name, self.capabilities)


def requested_grants(name: str, capabilities: Mapping[str, tuple[str, ...]]) -> tuple[Any, ...]:
    from ..capabilities import FileRead, FileWrite, KeyValue, Messaging, NetworkOutbound, grant

    caps: list[Any] = []
    for pattern in capabilities.get("files-read", ()):
        caps.append(FileRead(pattern))
    for pattern in capabilities.get("files-write", ()):
        caps.append(FileWrite(pattern))
    for spec in capabilities.get("http", ()):
        host, _, port = spec.rpartition(":") if ":" in spec else (spec, "", "")
        caps.append(NetworkOutbound(host, port=int(port)) if port else NetworkOutbound(spec))
    for pattern in capabilities.get("kv", ()):
        caps.append(KeyValue(pattern, write=True))
    for pattern in capabilities.get("messaging", ()):
        caps.append(Messaging(pattern))
    return grant(*caps, plugin=name) if caps else ()


def _bad(origin: str, key: str, expected: str) -> BuildError:
    return BuildError(f"{origin}: [{key}] {expected}", file=origin)


def parse_manifest(text: str, *, root: Path, origin: str = MANIFEST_NAME) -> Manifest:
    """Parse and check manifest ``text``; relative paths are under ``root``.

    Raises:
        BuildError: naming the file, the key and what is expected.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"not valid TOML: {exc}", file=origin) from None
    plugin = data.get("plugin")
    if not isinstance(plugin, dict):
        raise _bad(origin, "plugin", 'is missing: add [plugin] with name = "..."')
    name = plugin.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad(origin, "plugin.name", "must be letters, digits, '.', '_' or '-' (max 64)")
    version = plugin.get("version", "0.1.0")
    world = plugin.get("world", "hostkit:plugin/plugin")
    if not isinstance(version, str) or not isinstance(world, str):
        raise _bad(origin, "plugin.version/world", "must be strings")
    build = data.get("build", {})
    if not isinstance(build, dict):
        raise _bad(origin, "build", "must be a table")

    def path_of(key: str, default: str | None) -> Path | None:
        value = build.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise _bad(origin, f"build.{key}", "must be a relative path string")
        return (root / value).resolve()

    app = path_of("app", "src")
    out = path_of("out", f"build/{name}.wasm")
    wit = path_of("wit", None)
    deps_raw = build.get("deps", {})
    if not isinstance(deps_raw, dict) or not all(isinstance(v, str) for v in deps_raw.values()):
        raise _bad(origin, "build.deps", "must map dependency names to paths")
    caps_raw = data.get("capabilities", {})
    if not isinstance(caps_raw, dict):
        raise _bad(origin, "capabilities", "must be a table")
    capabilities: dict[str, tuple[str, ...]] = {}
    for key, value in caps_raw.items():
        if key not in CAPABILITY_KEYS:
            known = ", ".join(CAPABILITY_KEYS)
            raise _bad(
                origin, f"capabilities.{key}", f"is not a capability kind; use one of {known}"
            )
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _bad(origin, f"capabilities.{key}", "must be a list of non-empty strings")
        capabilities[key] = tuple(value)
    try:
        requested_grants(name, capabilities)
    except ValueError as exc:
        raise _bad(origin, "capabilities", f"has a bad pattern: {exc}") from None
    assert app is not None and out is not None
    return Manifest(
        name=name,
        version=version,
        world=world,
        root=root,
        app=app,
        out=out,
        wit=wit,
        deps={k: (root / v).resolve() for k, v in deps_raw.items()},
        capabilities=capabilities,
        text=text,
    )


def load_manifest(project: str | Path) -> Manifest:
    """The manifest of the project directory ``project`` (or the file itself).

    Raises:
        BuildError: the file is missing or invalid (naming key and problem).
    """
    path = Path(project)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise BuildError(
            f"cannot read {path}: {exc.strerror or exc} (create a project with `hostkit new`)"
        ) from None
    return parse_manifest(text, root=path.parent.resolve(), origin=str(path))


# -- the custom section --------------------------------------------------------


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for _ in range(5):
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ValueError("LEB128 longer than 5 bytes")


def _sections(data: bytes) -> list[tuple[int, int, int]]:
    """(id, start, end) of each top-level section; ValueError if malformed."""
    if len(data) < 8 or data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly binary")
    pos, found = 8, []
    while pos < len(data):
        section_id = data[pos]
        size, body = _read_leb(data, pos + 1)
        end = body + size
        if end > len(data):
            raise ValueError("section runs past the end of the file")
        found.append((section_id, body, end))
        pos = end
    return found


def _custom(data: bytes, body: int, end: int) -> tuple[str, bytes]:
    length, start = _read_leb(data, body)
    if start + length > end:
        raise ValueError("custom section name runs past the section")
    return data[start : start + length].decode("utf-8", "replace"), data[start + length : end]


def read_embedded_manifest(data: bytes) -> str | None:
    """The manifest text embedded in component ``data``, or None.

    Raises:
        ValueError: ``data`` is not a well-formed WebAssembly binary at the
            section level, or the manifest is too large or not UTF-8.
    """
    for section_id, body, end in _sections(data):
        if section_id != 0:
            continue
        name, payload = _custom(data, body, end)
        if name == SECTION_NAME:
            if len(payload) > _MAX_SECTION:
                raise ValueError(f"embedded manifest exceeds {_MAX_SECTION} bytes")
            return payload.decode("utf-8")
    return None


def embed_manifest(path: Path, text: str) -> bool:
    """Put ``text`` into the component at ``path`` as the ``hostkit:manifest``
    custom section (replacing an older one). Returns False if it was already
    there unchanged."""
    data = path.read_bytes()
    payload = text.encode("utf-8")
    if len(payload) > _MAX_SECTION:
        raise BuildError(f"the manifest exceeds {_MAX_SECTION} bytes", file=str(path))
    try:
        if read_embedded_manifest(data) == text:
            return False
        kept = bytearray(data[:8])
        for section_id, body, end in _sections(data):
            if section_id == 0 and _custom(data, body, end)[0] == SECTION_NAME:
                continue
            kept += _section_bytes(data, section_id, body, end)
    except ValueError as exc:
        raise BuildError(f"not a well-formed component: {exc}", file=str(path)) from None
    name = SECTION_NAME.encode()
    content = _leb(len(name)) + name + payload
    kept += b"\x00" + _leb(len(content)) + content
    tmp = path.with_name(f".{path.name}.manifest.tmp")
    tmp.write_bytes(bytes(kept))
    tmp.replace(path)
    return True


def _section_bytes(data: bytes, section_id: int, body: int, end: int) -> bytes:
    return bytes([section_id]) + _leb(end - body) + data[body:end]
