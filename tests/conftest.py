"""Shared fixtures: real components built from plugins/ (cached), real hosts."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import hostkit
import hostkit.build

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
import _python_guest as python_guest_builder  # noqa: E402
import build as plugin_build  # noqa: E402

sys.path.remove(str(ROOT / "plugins"))


@pytest.fixture(scope="session")
def wasm() -> dict[str, Path]:
    """Paths of every WAT test guest, built once per machine (digest-cached)."""
    return {name: plugin_build.build_wat(name) for name in plugin_build.WAT_GUESTS}


@pytest.fixture(scope="session")
def python_guests() -> Any:
    """plugins/_python_guest.py (a shim over hostkit.build: builds
    componentize-py guests, digest-cached), after checking the toolchain:
    componentize-py is a declared test dependency, so a missing one fails the
    tests rather than skipping them."""
    try:
        hostkit.build.find_tool("componentize-py")
    except hostkit.build.BuildError as exc:
        pytest.fail(str(exc))
    return python_guest_builder


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
