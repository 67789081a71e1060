"""The runtime's cached conversion plans for generic host functions agree
with wasmtime-py's own conversions, for every WIT shape, both ways.

The types come from a component built from a WIT world by ``wasm-tools``
(``--dummy``: nothing runs, only its import types are read).
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as wc

import hostkit
from hostkit.runtime import _wasm
from hostkit.runtime._wasm import describe_func
from hostkit.runtime._wasm._values import _plan, _Val

SHAPES_WIT = """
package t:shapes;
interface shapes {
  enum kind { file, dir }
  record entry { name: string, kind: kind, size: u64 }
  variant either { text(string), number(u32), nothing }
  variant tagged { a(string), b(string) }
  flags perms { read, write }
  f-list: func(x: list<entry>) -> list<entry>;
  f-opt: func(x: option<string>) -> option<option<u32>>;
  f-var: func(x: either) -> tagged;
  f-res: func(x: result<string, either>) -> result<_, string>;
  f-tup: func(x: tuple<string, s32, bool>) -> list<tuple<string, string>>;
  f-bytes: func(x: list<u8>) -> list<u8>;
  f-flags: func(x: perms) -> result<string, string>;
  f-prims: func(a: s8, b: u16, c: s64, d: f32, e: f64, f: char) -> result<f64, kind>;
}
world w { import shapes; }
"""


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Function name -> wasmtime FuncType of the ``shapes`` interface."""
    from build import tool  # plugins/build.py, on sys.path via conftest

    tmp = tmp_path_factory.mktemp("shapes")
    (tmp / "wit").mkdir()
    (tmp / "wit" / "shapes.wit").write_text(SHAPES_WIT)
    wasm_tools = tool("wasm-tools")
    subprocess.run(
        [
            wasm_tools,
            "component",
            "embed",
            "--dummy",
            str(tmp / "wit"),
            "-w",
            "w",
            "-o",
            str(tmp / "core.wasm"),
        ],
        check=True,
    )
    subprocess.run(
        [wasm_tools, "component", "new", str(tmp / "core.wasm"), "-o", str(tmp / "c.wasm")],
        check=True,
    )
    engine = wasmtime.Engine()
    comp = wc.Component(engine, Path(tmp / "c.wasm").read_bytes())
    (iface,) = comp.type.imports(engine).values()
    return {name: item.ty for name, item in iface.ty.exports(engine).items()}


def record(**fields: Any) -> Any:
    out = wc.Record()
    for name, value in fields.items():
        setattr(out, name, value)
    return out


V = wc.Variant
ENTRY = record(name="a.txt", kind="file", size=2**64 - 1)
CASES: list[tuple[str, str, list[Any]]] = [
    ("f-list", "x", [[], [ENTRY, record(name="ü/ß", kind="dir", size=0)]]),
    ("f-list", "result", [[ENTRY] * 3]),
    ("f-opt", "x", [None, "", "hé"]),
    ("f-opt", "result", [V("none"), V("some", None), V("some", 7)]),
    ("f-var", "x", ["text", 5, None]),
    ("f-var", "result", [V("a", "x"), V("b", "")]),
    # `either` can hold a str, like the ok side: tagged
    ("f-res", "x", [V("ok", "ok!"), V("err", "x"), V("err", 3), V("err", None)]),
    ("f-res", "result", [None, "why"]),  # ok has no payload: untagged
    ("f-tup", "x", [("s", -(2**31), True)]),
    ("f-tup", "result", [[], [("k", "v"), ("Content-Type", "text/plain")]]),
    ("f-bytes", "x", [b"", bytes(range(256))]),
    ("f-flags", "x", [set(), {"read"}, {"read", "write"}]),
    ("f-flags", "result", [V("ok", "x"), V("err", "y")]),
    ("f-prims", "result", [1.5, "dir"]),
]


def _type(shapes: dict[str, Any], function: str, slot: str) -> Any:
    fty = shapes[function]
    if slot == "result":
        return fty.result
    return dict(fty.params)[slot]


def _mine_then_theirs(ty: Any, value: Any) -> Any:
    _, lower = _plan(ty)
    val = _Val()
    lower(None, value, ctypes.pointer(val))
    return ty.convert_from_c(val)


def _theirs_then_mine(ty: Any, value: Any) -> Any:
    lift, _ = _plan(ty)
    val = _Val()
    ty.convert_to_c(None, value, ctypes.pointer(val))
    return lift(val)


@pytest.mark.parametrize(("function", "slot", "values"), CASES)
def test_plans_agree_with_wasmtime_py_both_ways(
    shapes: dict[str, Any], function: str, slot: str, values: list[Any]
) -> None:
    ty = _type(shapes, function, slot)
    for value in values:
        assert _mine_then_theirs(ty, value) == value
        assert _theirs_then_mine(ty, value) == value


def test_primitives_round_trip(shapes: dict[str, Any]) -> None:
    fty = shapes["f-prims"]
    values = {"a": -128, "b": 65535, "c": -(2**63), "d": 0.25, "e": 1e300, "f": "é"}
    for name, ty in fty.params:
        assert _mine_then_theirs(ty, values[name]) == values[name]
        assert _theirs_then_mine(ty, values[name]) == values[name]


@pytest.mark.parametrize(
    ("function", "slot", "value", "error"),
    [
        ("f-list", "x", [ENTRY, "not a record"], AttributeError),
        ("f-list", "x", (ENTRY,), TypeError),  # a tuple is not a list
        ("f-var", "result", "a", TypeError),  # tagged needs a Variant
        ("f-var", "x", 1.5, ValueError),  # fits no case
        ("f-tup", "x", ("s", 1), TypeError),
        ("f-res", "x", "ok!", TypeError),  # tagged needs a Variant
        ("f-res", "result", 1.5, ValueError),
    ],
)
def test_a_value_that_does_not_fit_raises_and_leaves_nothing_behind(
    shapes: dict[str, Any], function: str, slot: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _mine_then_theirs(_type(shapes, function, slot), value)


def test_describe_func_reads_the_same_types(shapes: dict[str, Any]) -> None:
    desc = describe_func(shapes["f-res"])
    assert str(desc) == (
        "func(x: result<string, variant{text(string), number(u32), nothing}>) -> result<_, string>"
    )
    assert desc.params[0][1].tagged and desc.result is not None and not desc.result.tagged
    assert str(describe_func(shapes["f-list"]).params[0][1]) == (
        "list<record{name: string, kind: enum{file, dir}, size: u64}>"
    )


async def test_a_plan_is_built_at_load_from_the_checked_type_and_dropped_with_the_engine(
    cache_dir: Path, wasm: dict[str, Path]
) -> None:
    cfg = hostkit.HostConfig(cache_dir=cache_dir)
    async with hostkit.open_host(cfg, resolver=lambda i, f, t: lambda inst, x: x * 2) as host:
        pid = await host.spawn(host.load(wasm["raiser"]))
        (fid,) = host.engine._host_func_ids
        assert fid in _wasm._PLANS
        assert await host.call(pid, "abc") == "6"
        assert await host.call(pid, "abcd") == "8"
    assert fid not in _wasm._PLANS
