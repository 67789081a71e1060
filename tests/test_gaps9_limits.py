"""Per-component limits (`ComponentLimits`, ``[[components]] limits``): a
component's actors run with less fuel, a shorter deadline or less memory
than the host's, never more; real components, real wasmtime."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

import hostkit
from hostkit.config import open_configured_host
from hostkit.runtime import ComponentLimits

MiB = 1024 * 1024


@pytest.fixture
def roomy(cache_dir: Path) -> hostkit.HostConfig:
    """A host with plenty of fuel, time and memory for `loop`'s burn."""
    return hostkit.HostConfig(
        fuel_per_activation=2_000_000_000,
        activation_timeout=30,
        max_memory_bytes=64 * MiB,
        cache_dir=cache_dir,
    )


async def test_a_lower_fuel_limit_ends_the_actor_where_the_hosts_would_not(
    roomy: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(roomy) as host:
        plain = await host.spawn(host.load(wasm["loop"], name="plain"))
        tight = host.load(wasm["loop"], name="tight",
                          limits=ComponentLimits(fuel_per_activation=1_000_000))  # fmt: skip
        held = await host.spawn(tight)
        with trio.fail_after(20):
            host.send(plain, "burn")  # 20M iterations: fine on the host's fuel
            assert await host.call(plain, "still here") == "still here"
            host.send(held, "burn")
            assert await host.wait(held) == hostkit.ExitReason("fuel", "activation ran out of fuel")


async def test_a_shorter_activation_timeout_and_less_memory(
    roomy: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(roomy) as host:
        quick = host.load(wasm["loop"], name="quick",
                          limits=ComponentLimits(activation_timeout=0.05))  # fmt: skip
        pid = await host.spawn(quick)
        with trio.fail_after(10):  # the host's own deadline is 30 s
            host.send(pid, "spin")
            assert (await host.wait(pid)).kind == "deadline"
        small = host.load(wasm["memgrow"], name="small",
                          limits=ComponentLimits(max_memory_bytes=2 * MiB))  # fmt: skip
        big = host.load(wasm["memgrow"], name="big")
        small_pages = int(await host.call(await host.spawn(small), "grow"))
        big_pages = int(await host.call(await host.spawn(big), "grow"))
    assert small_pages * 65536 <= 2 * MiB < big_pages * 65536


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        (ComponentLimits(fuel_per_activation=3_000_000_000), "fuel_per_activation 3000000000 "
         "exceeds the host's 2000000000"),
        (ComponentLimits(activation_timeout=31.0), "activation_timeout 31.0 exceeds"),
        (ComponentLimits(max_memory_bytes=65 * MiB), "max_memory_bytes .* exceeds"),
    ],
)  # fmt: skip
async def test_a_limit_above_the_hosts_is_refused_at_load(
    roomy: hostkit.HostConfig, wasm: dict[str, Path], limits: ComponentLimits, problem: str
) -> None:
    async with hostkit.open_host(roomy) as host:
        with pytest.raises(hostkit.ComponentLoadError, match=problem):
            host.load(wasm["loop"], limits=limits)
        assert "loop" not in host.components


async def test_fuel_needs_a_host_that_meters_it(cache_dir: Path, wasm: dict[str, Path]) -> None:
    cfg = hostkit.HostConfig(fuel_per_activation=None, cache_dir=cache_dir)
    async with hostkit.open_host(cfg) as host:
        with pytest.raises(hostkit.ComponentLoadError, match="does not meter fuel"):
            host.load(wasm["loop"], limits=ComponentLimits(fuel_per_activation=10))


@pytest.mark.parametrize(
    "kwargs",
    [{"fuel_per_activation": 0}, {"activation_timeout": -1.0}, {"max_memory_bytes": 1.5},
     {"fuel_per_activation": True}],
)  # fmt: skip
def test_component_limits_refuse_non_positive_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="ComponentLimits"):
        ComponentLimits(**kwargs)  # type: ignore[arg-type]


def _toml(tmp_path: Path, wasm: dict[str, Path], cache_dir: Path, limits: str) -> Path:
    (tmp_path / "loop.wasm").write_bytes(wasm["loop"].read_bytes())
    path = tmp_path / "host.toml"
    path.write_text(
        f'[host]\ncache_dir = "{cache_dir}"\nfuel_per_activation = 2000000000\n'
        f'[[components]]\nname = "tight"\npath = "loop.wasm"\nlimits = {limits}\n'
        '[[components]]\nname = "plain"\npath = "loop.wasm"\n'
    )
    return path


async def test_components_limits_in_host_toml(
    tmp_path: Path, wasm: dict[str, Path], cache_dir: Path
) -> None:
    path = _toml(tmp_path, wasm, cache_dir, "{ fuel_per_activation = 1000000 }")
    async with open_configured_host(path) as running:
        host = running.host
        plain, tight = await host.spawn("plain"), await host.spawn("tight")
        with trio.fail_after(20):
            host.send(plain, "burn")
            assert await host.call(plain, "still here") == "still here"
            host.send(tight, "burn")
            assert (await host.wait(tight)).kind == "fuel"


async def test_components_limits_above_the_host_name_the_key(
    tmp_path: Path, wasm: dict[str, Path], cache_dir: Path
) -> None:
    path = _toml(tmp_path, wasm, cache_dir, "{ fuel_per_activation = 3000000000 }")
    key = r"components\[0\]\.limits\.fuel_per_activation: "
    with pytest.raises(hostkit.ConfigError, match=key):
        async with open_configured_host(path):
            pass
    path = _toml(tmp_path, wasm, cache_dir, "{ fuel = 3 }")
    with pytest.raises(hostkit.ConfigError, match=r"components\[0\]\.limits\.fuel: unknown key"):
        async with open_configured_host(path):
            pass
