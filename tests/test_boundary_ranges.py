"""Everything the host lowers into a guest is range-checked: a host function
returning a value its WIT type cannot hold ends the calling actor with a
``host-error`` naming the function, and is never wrapped into range
(ctypes silently truncates ints; wasmtime's C API aborts the whole process
on a surrogate ``char``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from test_boundary_types import actor_component, assemble

import hostkit

VALUES = "hostkit:test/bnd-values@0.1.0"
FUNC = f"{VALUES}#get"

# WIT result type -> (component func type, its core lowering, deliver body)
I32 = ("(func (result i32))", "(drop (call $f0))")
I64 = ("(func (result i64))", "(drop (call $f0))")
PTR = ("(func (param i32))", "(call $f0 (i32.const 64))")
SHAPES: dict[str, tuple[str, str, str]] = {
    "u8": ("(func (result u8))", *I32),
    "u16": ("(func (result u16))", *I32),
    "u32": ("(func (result u32))", *I32),
    "u64": ("(func (result u64))", *I64),
    "s8": ("(func (result s8))", *I32),
    "s16": ("(func (result s16))", *I32),
    "s32": ("(func (result s32))", *I32),
    "s64": ("(func (result s64))", *I64),
    "char": ("(func (result char))", *I32),
    "enum": ("(func (result $e))", *I32),
    "flags": ("(func (result $f))", *I32),
    "record": ("(func (result $r))", *I32),
    "list": ("(func (result (list u32)))", *PTR),
    "option": ("(func (result (option u8)))", *PTR),
}


# the named types an instance type must declare and export to use them
DECLS = (
    '(type $e0 (enum "red" "green")) (export "color" (type $e (eq $e0))) '
    '(type $f0 (flags "read" "write")) (export "mode" (type $f (eq $f0))) '
    '(type $r0 (record (field "x" u16))) (export "point" (type $r (eq $r0))) '
)


def record(**fields: Any) -> Any:
    from hostkit.runtime._wasm import WitRecordValue

    out = WitRecordValue()
    for k, v in fields.items():
        setattr(out, k, v)
    return out


OUT_OF_RANGE: list[tuple[str, Any, str]] = [
    ("u8", 256, "not a u8"),
    ("u8", -1, "not a u8"),
    ("u16", 1 << 16, "not a u16"),
    ("u32", 1 << 40, "not a u32"),
    ("u32", -1, "not a u32"),
    ("u64", 1 << 64, "not a u64"),
    ("u64", -1, "not a u64"),
    ("s8", 128, "not a s8"),
    ("s8", -129, "not a s8"),
    ("s16", -(1 << 15) - 1, "not a s16"),
    ("s32", 1 << 31, "not a s32"),
    ("s64", 1 << 63, "not a s64"),
    ("u32", True, "not a u32"),
    ("char", "\ud800", "not a char"),
    ("char", "ab", "not a char"),
    ("enum", "blue", "not a value of enum{red, green}"),
    ("flags", {"read", "exec"}, "not a value of flags{read, write}"),
    ("record", record(x=70000), "not a u16"),
    ("list", [1, 2, 1 << 32], "not a u32"),
    ("option", 300, "not a u8"),
]

IN_RANGE: list[tuple[str, Any]] = [
    ("u8", 255),
    ("u32", (1 << 32) - 1),
    ("u64", (1 << 64) - 1),
    ("s8", -128),
    ("s64", -(1 << 63)),
    ("char", "\U0010ffff"),
    ("enum", "green"),
    ("flags", {"read", "write"}),
    ("record", record(x=65535)),
    ("list", [0, (1 << 32) - 1]),
    ("option", None),
]


async def run_returning(
    config: hostkit.HostConfig, tmp_path: Path, shape: str, value: Any
) -> hostkit.ExitReason | None:
    """Spawn a guest whose delivery calls ``get`` returning ``value``; the
    actor's exit reason, or None if a second delivery started after the
    first one (so the value crossed and the guest went on)."""
    ctype, core, body = SHAPES[shape]
    wat = actor_component([(VALUES, "get", ctype, core)], deliver=body, types={VALUES: DECLS})
    wasm = assemble(wat, tmp_path)
    calls: list[int] = []

    def get(inst: Any) -> Any:
        calls.append(1)
        return value

    async with hostkit.open_host(config, host_functions={VALUES: {"get": get}}) as host:
        pid = await host.spawn(host.load(wasm))
        monitor = host.monitor(pid)
        host.send(pid, "go")
        with trio.fail_after(10):
            while not calls:
                await trio.sleep(0.01)
            if not host.is_alive(pid) or monitor.down is not None:
                return await monitor.wait()
            host.send(pid, "again")  # delivered only once the first delivery returned
            while len(calls) < 2 and monitor.down is None:
                await trio.sleep(0.01)
        return monitor.down


@pytest.mark.parametrize(("shape", "value", "why"), OUT_OF_RANGE)
async def test_an_out_of_range_result_ends_the_actor_naming_the_function(
    config: hostkit.HostConfig, tmp_path: Path, shape: str, value: Any, why: str
) -> None:
    reason = await run_returning(config, tmp_path, shape, value)
    assert reason is not None
    assert reason.kind == "host-error"
    assert FUNC in reason.detail
    assert why in reason.detail


@pytest.mark.parametrize(("shape", "value"), IN_RANGE)
async def test_the_extremes_of_every_range_cross(
    config: hostkit.HostConfig, tmp_path: Path, shape: str, value: Any
) -> None:
    assert await run_returning(config, tmp_path, shape, value) is None


# -- hostkit's own process imports: a host bug cannot wrap either ---------------

PROCESS = "hostkit:plugin/process@0.1.0"


@pytest.mark.parametrize(
    ("function", "ctype", "core", "body", "method", "bad"),
    [
        (
            "self",
            "(func (result u64))",
            "(func (result i64))",
            "(drop (call $f0))",
            "proc_self",
            -1,
        ),
        (
            "monitor",
            '(func (param "target" u64) (result u64))',
            "(func (param i64) (result i64))",
            "(drop (call $f0 (i64.const 1)))",
            "proc_monitor",
            1 << 64,
        ),
        (
            "send",
            '(func (param "to" u64) (param "payload" string) (result (result (error $se))))',
            "(func (param i64 i32 i32 i32))",
            "(call $f0 (i64.const 1) (i32.const 0) (i32.const 0) (i32.const 64))",
            "proc_send",
            "gone-fishing",
        ),
    ],
)
async def test_a_process_import_answering_out_of_range_ends_the_caller(
    config: hostkit.HostConfig,
    tmp_path: Path,
    function: str,
    ctype: str,
    core: str,
    body: str,
    method: str,
    bad: Any,
) -> None:
    decl = (
        '(type $se0 (enum "noproc" "mailbox-full" "too-large" "denied")) '
        '(export "send-error" (type $se (eq $se0))) '
    )
    wat = actor_component([(PROCESS, function, ctype, core)], deliver=body, types={PROCESS: decl})
    wasm = assemble(wat, tmp_path)
    async with hostkit.open_host(config) as host:
        pid = await host.spawn(host.load(wasm))
        # fault injection: the host's side of the process imports answers out
        # of range
        setattr(host.engine._api, method, lambda *args: bad)
        monitor = host.monitor(pid)
        host.send(pid, "go")
        with trio.fail_after(10):
            reason = await monitor.wait()
    assert reason.kind == "host-error"
    assert f"{PROCESS}#{function} returned" in reason.detail
