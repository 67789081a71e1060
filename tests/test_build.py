"""hostkit.build: guests built with real componentize-py and wasm-tools."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import hostkit
from hostkit.build import (
    BuildError,
    assemble_wit,
    build_python,
    build_wat,
    hostkit_wit,
)

ROOT = Path(__file__).resolve().parent.parent
ECHO_WAT = """(component
  (core module $m (func (export "f") (result i32) (i32.const 7)))
)"""


def test_hostkit_wit_ships_as_package_data_and_matches_the_checkout() -> None:
    for name in ("plugin", "host"):
        assert hostkit_wit(name) == (ROOT / "wit" / name / f"{name}.wit").read_text()


def test_assemble_wit_resolves_hostkit_packages_as_deps(tmp_path: Path) -> None:
    app_wit = tmp_path / "app.wit"
    app_wit.write_text(
        "package my:mod@0.1.0;\nworld mod { include hostkit:plugin/plugin@0.1.0; }\n"
    )
    dest, world = assemble_wit(tmp_path / "out", world="mod", wit=app_wit)
    assert world == "my:mod/mod"
    assert (dest / "app.wit").is_file()
    assert (dest / "deps" / "plugin" / "plugin.wit").read_text() == hostkit_wit("plugin")
    assert (dest / "deps" / "host" / "host.wit").read_text() == hostkit_wit("host")


def test_assemble_wit_for_a_hostkit_world_needs_no_wit(tmp_path: Path) -> None:
    dest, world = assemble_wit(tmp_path / "w", world="full-plugin")
    assert world == "hostkit:host/full-plugin"
    assert (dest / "host.wit").is_file() and (dest / "deps" / "plugin" / "plugin.wit").is_file()
    assert not (dest / "deps" / "host").exists()


def test_an_unknown_world_without_wit_names_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="pass wit="):
        assemble_wit(tmp_path / "w", world="acme:game/mod")


def test_a_syntax_error_is_reported_at_its_file_line_and_column_first(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text("import hostkit_guest\n\ndef handle(msg:\n    return msg\n")
    with pytest.raises(BuildError) as info:
        build_python(app, tmp_path / "out.wasm")
    err = info.value
    assert isinstance(err, hostkit.HostkitError)
    assert str(err).startswith(f"{app / 'app.py'}:3:")
    assert "SyntaxError" in str(err).splitlines()[0]
    assert (err.file, err.line) == (str(app / "app.py"), 3)
    assert "Stack backtrace" not in str(err)
    assert not (tmp_path / "out.wasm").exists()


@pytest.mark.slow
def test_an_exception_while_importing_the_app_is_reported_at_its_line(tmp_path: Path) -> None:
    """componentize-py runs the app's top level: its traceback is mapped back
    to the author's file, and Rust's backtrace is left out."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "helper.py").write_text("def table():\n    return {}['missing']\n")
    (app / "app.py").write_text(
        "import hostkit_guest\nimport helper\n\nTABLE = helper.table()\n"
        "Actor = hostkit_guest.export(lambda m: m)\n"
    )
    lines: list[str] = []
    with pytest.raises(BuildError) as info:
        build_python(app, tmp_path / "out.wasm", progress=lines.append)
    err = info.value
    first = str(err).splitlines()[0]
    assert first == f"{app / 'helper.py'}:2: KeyError: 'missing'"
    assert f'File "{app}/app.py", line 4' in str(err)
    assert "Stack backtrace" not in str(err) and "anyhow" not in str(err)
    assert "Stack backtrace" in err.output or "Caused by" in err.output
    assert any("componentize-py" in line for line in lines)


def test_a_missing_app_module_says_what_to_create(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"has no app\.py"):
        build_python(tmp_path, tmp_path / "out.wasm")


def test_an_app_shadowing_the_sdk_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    (tmp_path / "hostkit_guest.py").write_text("")
    with pytest.raises(BuildError, match="shadows"):
        build_python(tmp_path, tmp_path / "out.wasm")


def test_wat_builds_are_cached_by_input_digest(tmp_path: Path) -> None:
    out = tmp_path / "c.wasm"
    first = build_wat(ECHO_WAT, out, world=None)
    assert not first.cached and out.read_bytes()[:4] == b"\0asm"
    again = build_wat(ECHO_WAT, out, world=None)
    assert again.cached and again.digest == first.digest
    changed = build_wat(ECHO_WAT.replace("7", "8"), out, world=None)
    assert not changed.cached and changed.digest != first.digest
    forced = build_wat(ECHO_WAT.replace("7", "8"), out, world=None, force=True)
    assert not forced.cached


def test_a_wat_error_names_the_source_file_line_and_column(tmp_path: Path) -> None:
    src = tmp_path / "bad.wat"
    src.write_text("(module\n  (func (result i32)\n    (i32.const nope)))\n")
    with pytest.raises(BuildError) as info:
        build_wat(src, tmp_path / "bad.wasm", world=None)
    assert (info.value.file, info.value.line) == (str(src), 3)
    assert str(info.value).startswith(f"{src}:3:")


async def test_a_wat_guest_built_against_packaged_wit_loads_in_a_host(
    tmp_path: Path, config: hostkit.HostConfig
) -> None:
    """build_wat embeds hostkit:plugin from package data; the host runs it."""
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        import build as plugin_build
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    result = build_wat(plugin_build.wat_source("ring"), tmp_path / "ring.wasm")
    async with hostkit.open_host(config) as host:
        pid = await host.spawn(host.load(result.path))
        assert await host.call(pid, "finished") == "0"


def test_hostkit_build_lists_each_public_name_once() -> None:
    import importlib

    module = importlib.import_module("hostkit.build")
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, type(importlib))
        and name != "annotations"
    }
    assert public == set(exported)


def test_templates_and_the_default_policy_ship_as_package_data() -> None:
    from importlib import resources

    from hostkit.build import TEMPLATES

    base = resources.files("hostkit").joinpath("_build")
    for template in TEMPLATES:
        assert base.joinpath("templates", template, "hostkit.toml").is_file()
        assert base.joinpath("templates", template, "app.py.tmpl").is_file()
    default = base.joinpath("default.cedar").read_text()
    assert default == (ROOT / "capabilities" / "policies" / "default.cedar").read_text()
