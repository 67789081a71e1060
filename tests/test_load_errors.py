"""Every way a component can fail to load, each naming the component."""

from __future__ import annotations

from pathlib import Path

import pytest

import hostkit


async def test_bad_magic(host: hostkit.Host) -> None:
    with pytest.raises(hostkit.ComponentLoadError, match=r"'notwasm'.*\\0asm magic"):
        host.load(b"MZ\x90\x00 this is not wasm", name="notwasm")


async def test_core_module_instead_of_component(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    with pytest.raises(hostkit.ComponentLoadError, match=r"'core'.*core WebAssembly module"):
        host.load(wasm["core"])


async def test_too_large(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(max_component_bytes=1000, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        with pytest.raises(hostkit.ComponentLoadError, match=r"'echo'.*exceeds the limit of 1000"):
            host.load(wasm["echo"])


async def test_truncated(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    data = wasm["echo"].read_bytes()
    with pytest.raises(hostkit.ComponentLoadError, match=r"'cut'.*malformed"):
        host.load(data[: len(data) // 2], name="cut")


async def test_malformed_body(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    data = bytearray(wasm["echo"].read_bytes())
    data[40:60] = b"\xff" * 20
    with pytest.raises(hostkit.ComponentLoadError, match=r"'mangled'.*malformed"):
        host.load(bytes(data), name="mangled")


async def test_missing_actor_exports(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    with pytest.raises(
        hostkit.ComponentLoadError, match=r"'noactor'.*missing export hostkit:plugin/actor@0.1.0"
    ):
        host.load(wasm["noactor"])


async def test_unimplemented_imports_are_named(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    with pytest.raises(
        hostkit.ComponentLoadError,
        match=r"'raiser'.*nothing implements: hostkit:test/hooks@0\.1\.0#fail",
    ):
        host.load(wasm["raiser"])


async def test_unreadable_path(host: hostkit.Host, tmp_path: Path) -> None:
    with pytest.raises(hostkit.ComponentLoadError, match="cannot read"):
        host.load(tmp_path / "absent.wasm")


async def test_bytes_need_a_name(host: hostkit.Host, wasm: dict[str, Path]) -> None:
    with pytest.raises(hostkit.ComponentLoadError, match="name= is required"):
        host.load(wasm["echo"].read_bytes())


async def test_host_keeps_working_after_load_errors(
    host: hostkit.Host, wasm: dict[str, Path]
) -> None:
    for bad in (b"junk", wasm["core"].read_bytes()):
        with pytest.raises(hostkit.ComponentLoadError):
            host.load(bad, name="bad")
    pid = await host.spawn(host.load(wasm["echo"]))
    assert await host.call(pid, "fine") == "fine"
