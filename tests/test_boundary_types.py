"""Every import and export is type-checked at load against the exact type
the host implements: hostkit's ``process`` interface, the stock host
interfaces, application APIs and resolver bindings.

The attackers are hand-written components (component-model WAT assembled
with ``wasm-tools parse``) that declare hostkit's own interfaces with other
types. Before these checks, ``spawn: func(component: u64, args: u64) ->
string`` made the host read a guest-chosen host address (a segfault or a
host-memory disclosure).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pluggy
import pytest

import hostkit
from hostkit.capabilities import Gate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
import build as plugin_build

PROCESS = "hostkit:plugin/process@0.1.0"
ACTOR = "hostkit:plugin/actor@0.1.0"

#: (component-level function type, core type of its lowering)
U32_TO_U32 = ('(func (param "x" u32) (result u32))', "(func (param i32) (result i32))")

_ACTOR_EXPORTS = {
    "init": ('(func (param "args" string) (result (result (error string))))', "16"),
    "deliver": ('(func (param "batch" string) (result string))', "32"),
    "terminate": ('(func (param "reason" string))', None),
}


def actor_component(
    imports: Sequence[tuple[str, str, str, str]],
    deliver: str = "",
    exports: dict[str, tuple[str, str, str | None]] | None = None,
    types: dict[str, str] | None = None,
) -> str:
    """A component in WAT that exports ``actor`` and imports ``imports``:
    ``(interface, function, component func type, core func type)``. Its
    ``deliver`` runs ``deliver`` (core WAT calling ``$f0``, ``$f1``, ...)
    and returns an empty outbox. ``exports`` gives export types:
    ``name -> (component type, core type, result pointer or None)``;
    ``types`` type declarations an imported instance's functions use."""
    by_iface: dict[str, list[tuple[int, str, str]]] = {}
    for i, (iface, fname, ctype, _core) in enumerate(imports):
        by_iface.setdefault(iface, []).append((i, fname, ctype))
    out = ["(component"]
    for n, (iface, funcs) in enumerate(by_iface.items()):
        body = (types or {}).get(iface, "") + " ".join(f'(export "{f}" {t})' for _, f, t in funcs)
        out.append(f'  (import "{iface}" (instance $i{n} {body}))')
    out.append("""
  (core module $libc
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $heap))
      (global.set $heap
        (i32.and (i32.add (i32.add (global.get $heap) (local.get 3)) (i32.const 15))
                 (i32.const -8)))
      (local.get $p)))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))""")
    for n, funcs in enumerate(by_iface.values()):
        for i, f, _ in funcs:
            out.append(
                f'  (core func $imp{i} (canon lower (func $i{n} "{f}") '
                "(memory $mem) (realloc $realloc)))"
            )
    exports = exports or {
        k: (t, "(func (param i32 i32)" + (" (result i32))" if r else ")"), r)
        for k, (t, r) in _ACTOR_EXPORTS.items()
    }
    out.append('  (core module $main\n    (import "libc" "memory" (memory 1))')
    for i, (_, _, _, core) in enumerate(imports):
        out.append(f'    (import "host" "f{i}" {core.replace("(func", f"(func $f{i}", 1)})')
    for name, (_, core, ret) in exports.items():
        body = deliver if name == "deliver" else ""
        tail = f"(i32.const {ret})" if ret is not None else ""
        out.append(f'    (export "{name}" (func ${name}))')
        out.append(f"    {core.replace('(func', f'(func ${name}', 1)[:-1]} {body} {tail})")
    out.append("  )")
    withs = " ".join(f'(export "f{i}" (func $imp{i}))' for i in range(len(imports)))
    out.append(
        '  (core instance $main (instantiate $main (with "libc" (instance $libc))'
        f' (with "host" (instance {withs}))))'
    )
    for name, (ctype, _, _) in exports.items():
        lifted = ctype.replace("(func", f"(func ${name}", 1)[:-1]
        out.append(
            f'  {lifted} (canon lift (core func $main "{name}") (memory $mem) (realloc $realloc)))'
        )
    inst = " ".join(f'(export "{n}" (func ${n}))' for n in exports)
    out.append(f'  (instance $actor {inst})\n  (export "{ACTOR}" (instance $actor)))')
    return "\n".join(out)


def assemble(wat: str, tmp_path: Path, name: str = "bnd_guest") -> Path:
    src = tmp_path / f"{name}.wat"
    src.write_text(wat)
    out = tmp_path / f"{name}.wasm"
    proc = subprocess.run(
        [plugin_build.tool("wasm-tools"), "parse", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + "\n" + wat
    return out


SPAWN_ATTACK = (
    PROCESS,
    "spawn",
    '(func (param "component" u64) (param "args" u64) (result string))',
    "(func (param i64 i64 i32))",
)
SPAWN_REAL = (
    PROCESS,
    "spawn",
    '(func (param "component" string) (param "args" string) (result (result u64 (error string))))',
    "(func (param i32 i32 i32 i32 i32))",
)


async def test_spawn_declared_with_integer_arguments_is_refused_before_any_call(
    host: hostkit.Host, tmp_path: Path
) -> None:
    # The guest points "component" at a host address and asks for the bytes
    # back as a string: before the check, the host read its own memory.
    wasm = assemble(
        actor_component(
            [SPAWN_ATTACK],
            deliver="(call $f0 (i64.const 0x7fff0000) (i64.const 64) (i32.const 32))",
        ),
        tmp_path,
    )
    with pytest.raises(hostkit.ComponentLoadError) as info:
        host.load(wasm)
    problem = info.value.problem
    assert f"{PROCESS}#spawn" in problem
    assert "expected func(component: string, args: string) -> result<u64, string>" in problem
    assert "found func(component: u64, args: u64) -> string" in problem
    assert "bnd_guest" not in host.components


async def test_the_same_component_with_the_real_spawn_type_loads_and_runs(
    host: hostkit.Host, tmp_path: Path
) -> None:
    # The control: the generator builds working components; only the type differs.
    wasm = assemble(actor_component([SPAWN_REAL]), tmp_path)
    component = host.load(wasm)
    assert component.imports == (PROCESS,)
    assert isinstance(await host.spawn(component), hostkit.Pid)


@pytest.mark.parametrize("function", sorted(hostkit.runtime._wasm._process.PROCESS_SIGNATURES))
async def test_every_process_function_with_another_type_is_refused_naming_both_types(
    host: hostkit.Host, tmp_path: Path, function: str
) -> None:
    from hostkit.runtime._wasm._process import PROCESS_SIGNATURES

    wasm = assemble(actor_component([(PROCESS, function, *U32_TO_U32)]), tmp_path)
    with pytest.raises(hostkit.ComponentLoadError) as info:
        host.load(wasm)
    problem = info.value.problem
    assert f"{PROCESS}#{function}: expected {PROCESS_SIGNATURES[function]}" in problem
    assert "found func(x: u32) -> u32" in problem


async def test_a_process_function_the_host_lacks_is_refused(
    host: hostkit.Host, tmp_path: Path
) -> None:
    wasm = assemble(actor_component([(PROCESS, "exfiltrate", *U32_TO_U32)]), tmp_path)
    with pytest.raises(
        hostkit.ComponentLoadError, match=f"nothing implements: {PROCESS}#exfiltrate"
    ):
        host.load(wasm)


@pytest.mark.parametrize(
    ("export", "ctype", "core", "ret"),
    [
        (
            "deliver",
            '(func (param "batch" string) (result u64))',
            "(func (param i32 i32) (result i64))",
            "0",
        ),
        (
            "init",
            '(func (param "args" string) (result u32))',
            "(func (param i32 i32) (result i32))",
            "0",
        ),
        ("terminate", '(func (param "reason" u32))', "(func (param i32))", None),
    ],
)
async def test_actor_exports_with_another_type_are_refused(
    host: hostkit.Host, tmp_path: Path, export: str, ctype: str, core: str, ret: str | None
) -> None:
    # The host reads deliver's result as a string: a u64 there would be
    # read as a (pointer, length) pair.
    exports = {
        k: (t, "(func (param i32 i32)" + (" (result i32))" if r else ")"), r)
        for k, (t, r) in _ACTOR_EXPORTS.items()
    }
    exports[export] = (ctype, core, ret)
    if ret is not None and "i64" in core:
        exports[export] = (ctype, core, None)
    wat = actor_component([], exports=exports)
    if export == "deliver":
        wat = wat.replace("(result i64)  )", "(result i64) (i64.const 0))")
    wasm = assemble(wat, tmp_path)
    with pytest.raises(hostkit.ComponentLoadError) as info:
        host.load(wasm)
    assert f"{ACTOR}#{export}: expected" in info.value.problem
    assert "found func(" in info.value.problem


# -- application APIs: the first component fixes the type ------------------------

HOOKS = "hostkit:test/hooks@0.1.0"
FAIL_U64 = (HOOKS, "fail", '(func (param "x" u64) (result u64))', "(func (param i64) (result i64))")


async def test_two_components_disagreeing_on_an_app_function_cannot_both_load(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    funcs = {HOOKS: {"fail": lambda inst, x: x + 1}}
    async with hostkit.open_host(config, host_functions=funcs) as host:
        good = await host.spawn(host.load(wasm["raiser"]))  # fail: func(x: u32) -> u32
        assert await host.call(good, "abc") == "4"
        other = assemble(actor_component([FAIL_U64]), tmp_path)
        with pytest.raises(hostkit.ComponentLoadError) as info:
            host.load(other)
        assert (
            f"{HOOKS}#fail: expected func(x: u32) -> u32, found func(x: u64) -> u64"
            in info.value.problem
        )
        # the well-behaved plugin is unaffected
        assert await host.call(good, "abcdef") == "7"


async def test_whichever_loads_first_fixes_the_type(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    seen: list[object] = []

    def resolver(interface: str, function: str, func_type: object) -> object:
        seen.append((interface, function))
        return lambda inst, x: x + 1

    async with hostkit.open_host(config, resolver=resolver) as host:  # type: ignore[arg-type]
        host.load(assemble(actor_component([FAIL_U64]), tmp_path))
        with pytest.raises(hostkit.ComponentLoadError, match=r"expected func\(x: u64\) -> u64"):
            host.load(wasm["raiser"])
        assert seen == [(HOOKS, "fail")]  # bound once, for the first type


async def test_a_refused_component_fixes_no_types(
    config: hostkit.HostConfig, wasm: dict[str, Path], tmp_path: Path
) -> None:
    funcs = {HOOKS: {"fail": lambda inst, x: x + 1}}
    async with hostkit.open_host(config, host_functions=funcs) as host:
        # fail with a new type, plus a mistyped process import: refused whole
        bad = actor_component([FAIL_U64, (PROCESS, "now", *U32_TO_U32)])
        with pytest.raises(hostkit.ComponentLoadError):
            host.load(assemble(bad, tmp_path))
        pid = await host.spawn(host.load(wasm["raiser"]))
        assert await host.call(pid, "ab") == "3"


# -- stock host interfaces, through the gate ----------------------------------


async def test_a_stock_host_function_with_another_type_is_refused_by_the_gate(
    config: hostkit.HostConfig, tmp_path: Path
) -> None:
    from hostkit.capabilities.providers import ClockProvider

    plugins = pluggy.PluginManager("hostkit")
    gate = Gate(plugins)
    plugins.register(ClockProvider())
    clock = "hostkit:host/clock@0.1.0"
    wat = actor_component([(clock, "now-ms", "(func (result u64))", "(func (result i64))")])
    async with hostkit.open_host(config, capabilities=gate) as host:
        with pytest.raises(hostkit.ComponentLoadError) as info:
            host.load(assemble(wat, tmp_path))
    problem = info.value.problem
    assert f"{clock}#now-ms: expected func() -> result<u64, variant{{denied(string)" in problem
    assert "found func() -> u64" in problem


def test_the_signature_tables_are_the_wit_files(tmp_path: Path) -> None:
    """PROCESS_SIGNATURES, ACTOR_SIGNATURES and STOCK_SIGNATURES say exactly
    what wit/ says: read back from a component built from the real WIT."""
    import wasmtime
    from wasmtime import component as wc

    from hostkit.capabilities._binding import STOCK_SIGNATURES, action_of
    from hostkit.runtime._wasm import describe_func
    from hostkit.runtime._wasm._process import ACTOR_SIGNATURES, PROCESS_SIGNATURES

    root = Path(__file__).resolve().parent.parent / "wit"
    wit = tmp_path / "wit"
    (wit / "deps" / "plugin").mkdir(parents=True)
    (wit / "host.wit").write_text((root / "host" / "host.wit").read_text())
    (wit / "deps" / "plugin" / "plugin.wit").write_text(
        (root / "plugin" / "plugin.wit").read_text()
    )
    tool = plugin_build.tool("wasm-tools")
    core, comp = tmp_path / "core.wasm", tmp_path / "c.wasm"
    subprocess.run(
        [tool, "component", "embed", "--dummy", str(wit), "-w", "full-plugin", "-o", str(core)],
        check=True,
    )
    subprocess.run([tool, "component", "new", str(core), "-o", str(comp)], check=True)
    engine = wasmtime.Engine()
    ctype = wc.Component(engine, comp.read_bytes()).type

    def funcs(items: object) -> dict[str, dict[str, str]]:
        return {
            iname: {
                f: str(describe_func(fi.ty))
                for f, fi in item.ty.exports(engine).items()
                if isinstance(fi.ty, wc.FuncType)
            }
            for iname, item in items.items()  # type: ignore[attr-defined]
            if isinstance(item.ty, wc.ComponentInstanceType)
        }

    imports = funcs(ctype.imports(engine))
    assert imports.pop(PROCESS) == PROCESS_SIGNATURES
    imports.pop("hostkit:plugin/types@0.1.0", None)
    stock = {action_of(i, f): t for i, fs in imports.items() for f, t in fs.items()}
    assert stock == dict(STOCK_SIGNATURES)
    assert funcs(ctype.exports(engine))[ACTOR] == ACTOR_SIGNATURES
