"""The manifest (hostkit.toml) and its copy inside a component, which
``hostkit inspect`` reads from untrusted files: hostile sections first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hostkit._build import _manifest as m
from hostkit.build import BuildError, read_embedded_manifest
from hostkit.cli import main

MANIFEST = '[plugin]\nname = "demo"\n[capabilities]\nfiles-read = ["/data/**"]\n'


def _custom(name: bytes, payload: bytes) -> bytes:
    content = m._leb(len(name)) + name + payload
    return b"\x00" + m._leb(len(content)) + content


def _component(*sections: bytes) -> bytes:
    return b"\0asm\x0d\x00\x01\x00" + b"".join(sections)


def test_embed_then_read_round_trips_and_replaces(tmp_path: Path, wasm: dict[str, Path]) -> None:
    target = tmp_path / "echo.wasm"
    target.write_bytes(wasm["echo"].read_bytes())
    assert m.embed_manifest(target, MANIFEST) is True
    assert read_embedded_manifest(target.read_bytes()) == MANIFEST
    assert m.embed_manifest(target, MANIFEST) is False  # unchanged: not rewritten
    other = MANIFEST.replace("demo", "demo2")
    assert m.embed_manifest(target, other) is True
    data = target.read_bytes()
    assert read_embedded_manifest(data) == other
    assert data.count(b"hostkit:manifest") == 1


async def test_a_component_with_an_embedded_manifest_still_loads(
    tmp_path: Path, wasm: dict[str, Path]
) -> None:
    import hostkit

    target = tmp_path / "echo.wasm"
    target.write_bytes(wasm["echo"].read_bytes())
    m.embed_manifest(target, MANIFEST)
    async with hostkit.open_host(hostkit.HostConfig(cache_dir=None)) as host:
        pid = await host.spawn(host.load(target))
        assert await host.call(pid, "still works") == "still works"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\0asm", "not a WebAssembly binary"),
        (_component(b"\x00\xff\xff\xff\xff\xff\x01"), "LEB128 longer than 5 bytes"),
        (_component(b"\x00\x80"), "truncated LEB128"),
        (_component(b"\x00\x10abc"), "section runs past the end"),
        (_component(b"\x00\x02\x7f\x00"), "name runs past the section"),
        (_component(_custom(b"hostkit:manifest", b"x" * (64 * 1024 + 1))), "exceeds"),
    ],
)
def test_hostile_sections_are_refused_with_a_reason(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        read_embedded_manifest(data)


def test_inspect_reports_a_hostile_component_as_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(_component(b"\x00\x10abc"))
    result = CliRunner().invoke(main, ["inspect", str(bad)])
    assert result.exit_code == 2


def test_an_embedded_manifest_with_a_hostile_name_is_rejected() -> None:
    with pytest.raises(BuildError, match=r"plugin\.name"):
        m.parse_manifest('[plugin]\nname = "x\\u001b[2J"\n', root=Path("."))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[build]\n", "[plugin]"),
        ('[plugin]\nname = "ok"\n[capabilities]\nnetwork = ["x"]\n', "capabilities.network"),
        (
            '[plugin]\nname = "ok"\n[capabilities]\nfiles-read = "/data"\n',
            "capabilities.files-read",
        ),
        ('[plugin]\nname = "ok"\n[capabilities]\nhttp = ["bad host!"]\n', "[capabilities]"),
        ('[plugin]\nname = "ok"\n[build]\napp = 3\n', "build.app"),
        ("[plugin\n", "not valid TOML"),
    ],
)
def test_a_bad_manifest_names_the_file_and_key(text: str, key: str) -> None:
    with pytest.raises(BuildError) as info:
        m.parse_manifest(text, root=Path("."), origin="proj/hostkit.toml")
    assert str(info.value).startswith("proj/hostkit.toml") and key in str(info.value)


def test_requested_capabilities_compile_to_grants_for_the_plugin() -> None:
    manifest = m.parse_manifest(
        '[plugin]\nname = "demo"\n[capabilities]\nfiles-read = ["/data/**"]\n'
        'http = ["api.example.com", "127.0.0.1:8080"]\nkv = ["notes/*"]\n',
        root=Path("."),
    )
    ids = [g.id for g in manifest.grants()]
    assert "plugin:demo/file-read:/data/**" in ids
    assert len(ids) == 4
    assert all(g.to_cedar().count('Plugin::"demo"') == 1 for g in manifest.grants())
