"""HostConfig's bounds: every limit is positive, and fuel metering is on
unless the application turns it off (guards of issue 14: each test fails
when its check is removed; `scripts/mutation.py` proves it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hostkit

LIMITS = (
    "scheduler_threads",
    "batch_size",
    "mailbox_capacity",
    "max_message_size",
    "activation_timeout",
    "host_call_budget",
    "max_memory_bytes",
    "max_instances",
    "max_component_bytes",
    "tick_seconds",
    "exit_history",
)


@pytest.mark.parametrize("name", LIMITS)
@pytest.mark.parametrize("value", [0, -1])
def test_host_config_refuses_a_zero_or_negative_limit_naming_it(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"HostConfig.{name} must be"):
        hostkit.HostConfig(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -5])
def test_host_config_refuses_zero_or_negative_fuel(value: int) -> None:
    with pytest.raises(ValueError, match="fuel_per_activation must be positive or None"):
        hostkit.HostConfig(fuel_per_activation=value)


async def test_a_spinning_guest_runs_out_of_fuel_under_the_default_config(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    # Only the activation deadline is raised (so it cannot be what ends the
    # guest); fuel is left at its default.
    cfg = hostkit.HostConfig(activation_timeout=120, cache_dir=cache_dir)
    assert cfg.fuel_per_activation is not None
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["loop"]))
        host.send(pid, "spin")
        reason = await host.wait(pid)
    assert reason.kind == "fuel"
