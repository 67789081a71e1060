"""Memory caps hold per instance: the total of all linear memories (and
tables) of one instance stays within ``max_memory_bytes``
(``max_table_elements``) whatever their number, and a component defining
more memories or tables than ``max_memories`` / ``max_tables`` is refused at
load. Guest: ``bnd_memories`` (five memories, grows them all until refused).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import hostkit
from hostkit.runtime._wasm._layout import count_layout

PAGE = 65536


async def test_five_memories_share_one_instance_budget(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = replace(config, max_memory_bytes=10 * 1024 * 1024)
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["bnd_memories"]))
        pages = int(await host.call(pid, "grow"))
    # per-memory caps alone granted 5 x 160 pages
    assert pages * PAGE <= cfg.max_memory_bytes
    assert pages == 5 * (cfg.max_memory_bytes // 5 // PAGE)


async def test_a_single_memory_guest_keeps_the_whole_budget(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    cfg = replace(config, max_memory_bytes=4 * 1024 * 1024)
    async with hostkit.open_host(cfg) as host:
        pid = await host.spawn(host.load(wasm["memgrow"]))
        assert int(await host.call(pid, "grow")) == cfg.max_memory_bytes // PAGE


async def test_more_memories_than_allowed_is_refused_at_load_naming_the_limit(
    config: hostkit.HostConfig, wasm: dict[str, Path]
) -> None:
    async with hostkit.open_host(replace(config, max_memories=4)) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            host.load(wasm["bnd_memories"])
        assert "defines 5 linear memories" in info.value.problem
        assert "max_memories" in info.value.problem
        assert "bnd_memories" not in host.components


def test_the_layout_counts_memories_and_tables_of_every_core_module(
    wasm: dict[str, Path],
) -> None:
    assert count_layout(wasm["bnd_memories"].read_bytes()).memories == 5
    assert count_layout(wasm["echo"].read_bytes()).memories == 1
    layout = count_layout(wasm["hostcall"].read_bytes())  # wit-component's shim table
    assert (layout.memories, layout.tables) == (1, 1)


@pytest.mark.parametrize(
    "data", [b"\0asm\x0d\x00\x01\x00\x01\x7f", b"\0asm\x0d\x00\x01\x00\x01\xff\xff"]
)
def test_a_truncated_binary_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="truncated"):
        count_layout(data)


@pytest.mark.parametrize(("memories", "tables"), [(0, 0), (1, 1), (3, 2), (16, 64), (40, 99)])
def test_the_shares_never_add_up_to_more_than_the_totals(memories: int, tables: int) -> None:
    from hostkit.runtime._wasm import Limits
    from hostkit.runtime._wasm._layout import Layout

    limits = Limits(
        memory_bytes=256 << 20, table_elements=100_000, instances=64, tables=64, memories=16
    )
    n_mem, each_mem, n_tab, each_tab = limits.shares(Layout(memories, tables))
    assert n_mem * each_mem <= limits.memory_bytes
    assert n_tab * each_tab <= limits.table_elements
    assert n_mem >= min(max(memories, 1), limits.memories)
