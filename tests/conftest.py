"""Shared fixtures: real components built from plugins/ (cached), real hosts."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import hostkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import build as plugin_build  # noqa: E402

sys.path.remove(str(ROOT / "plugins"))


@pytest.fixture(scope="session")
def wasm() -> dict[str, Path]:
    """Paths of every WAT test guest, built once per machine (digest-cached)."""
    return {name: plugin_build.build_wat(name) for name in plugin_build.WAT_GUESTS}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("component-cache")


@pytest.fixture
def config(cache_dir: Path) -> hostkit.HostConfig:
    """A host configuration with short deadlines so failures show up fast."""
    return hostkit.HostConfig(
        scheduler_threads=2,
        activation_timeout=0.5,
        cache_dir=cache_dir,
        mailbox_capacity=1000,
    )


@pytest.fixture
async def host(config: hostkit.HostConfig) -> AsyncIterator[hostkit.Host]:
    async with hostkit.open_host(config) as h:
        yield h
