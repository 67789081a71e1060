"""The compile cache loads only what this host wrote: entries carry an
HMAC-SHA256 under a per-host key kept outside the cache directory, over the
engine fingerprint, the component's digest and the compiled body. A body
swapped for another well-formed compiled artifact is refused and
recompiled."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

import hostkit
from hostkit.runtime._wasm._cache import fingerprint


def entry(cache: Path, wasm: Path) -> Path:
    digest = hashlib.sha256(wasm.read_bytes()).hexdigest()
    return cache / fingerprint(True) / f"{digest}.cwasm"


async def phases(cfg: hostkit.HostConfig, wasm: Path) -> tuple[list[str], str]:
    """Load ``wasm`` in a fresh host: the progress phases and what it echoes."""
    seen: list[str] = []
    async with hostkit.open_host(cfg) as host:
        comp = await host.load_async(wasm, progress=lambda e: seen.append(e.phase))
        pid = await host.spawn(comp)
        return seen, await host.call(pid, "hi")


@pytest.fixture
def cfg(config: hostkit.HostConfig, tmp_path: Path) -> hostkit.HostConfig:
    return replace(config, cache_dir=tmp_path / "components")


async def test_a_cached_component_loads_without_compiling(
    cfg: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    assert "loading" in (await phases(cfg, wasm["echo"]))[0]
    assert (await phases(cfg, wasm["echo"]))[0] == ["done"]


async def test_two_real_artifacts_swapped_are_refused_and_recompiled(
    cfg: hostkit.HostConfig, wasm: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    assert cfg.cache_dir is not None
    await phases(cfg, wasm["echo"])
    async with hostkit.open_host(cfg) as host:
        await host.load_async(wasm["ring"])
    echo, ring = entry(cfg.cache_dir, wasm["echo"]), entry(cfg.cache_dir, wasm["ring"])
    echo_blob, ring_blob = echo.read_bytes(), ring.read_bytes()
    echo.write_bytes(ring_blob)  # both authentic, each for the other digest
    ring.write_bytes(echo_blob)
    with caplog.at_level(logging.WARNING, logger="hostkit.runtime"):
        seen, reply = await phases(cfg, wasm["echo"])
    assert "loading" in seen  # recompiled, not deserialized
    assert reply == "hi"  # and it is echo, not ring's code
    assert f"{echo} is not authentic" in caplog.text
    assert echo.read_bytes() == echo_blob  # rewritten authentic
    assert (await phases(cfg, wasm["echo"]))[0] == ["done"]


async def test_an_entry_in_the_old_unkeyed_format_is_refused(
    cfg: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    assert cfg.cache_dir is not None
    await phases(cfg, wasm["ring"])
    ring = entry(cfg.cache_dir, wasm["ring"]).read_bytes()
    body = ring[8 + 32 :]
    # what the old check accepted: magic + sha256(body) + body, no key needed
    forged = b"HKCWASM1" + hashlib.sha256(body).digest() + body
    target = entry(cfg.cache_dir, wasm["echo"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(forged)
    seen, reply = await phases(cfg, wasm["echo"])
    assert "loading" in seen and reply == "hi"


async def test_the_key_lives_next_to_the_cache_not_inside_it(
    cfg: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    assert cfg.cache_dir is not None
    await phases(cfg, wasm["echo"])
    key = cfg.cache_dir.with_name("components.key")
    info = key.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_size == 32
    assert not any(p.name.endswith(".key") for p in cfg.cache_dir.rglob("*"))


@pytest.mark.parametrize("where", ["inside", "world-readable", "short"])
async def test_an_unusable_key_file_is_not_used(
    cfg: hostkit.HostConfig, wasm: dict[str, Path], caplog: pytest.LogCaptureFixture, where: str
) -> None:
    assert cfg.cache_dir is not None
    if where == "inside":
        key = cfg.cache_dir / "cache.key"
    else:
        key = cfg.cache_dir.with_name("weak.key")
        key.write_bytes(os.urandom(32 if where == "world-readable" else 8))
        key.chmod(0o644 if where == "world-readable" else 0o600)
    cfg = replace(cfg, cache_key_file=key)
    with caplog.at_level(logging.WARNING, logger="hostkit.runtime"):
        await phases(cfg, wasm["echo"])
        # a fresh host has a fresh in-memory key: the entry does not verify
        seen, reply = await phases(cfg, wasm["echo"])
    assert "loading" in seen and reply == "hi"
    assert f"compile cache key {key} not used" in caplog.text
    if where == "inside":
        assert not key.exists()
