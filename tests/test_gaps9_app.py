"""``[app]`` in host.toml: an application's own Python API (hookspecs and
pluggy plugins) imported from beside the file, serving a real component
(``gamemod``, importing ``acme:game/world``) under real Cedar; every bad
entry a ConfigError naming the file and the key."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hostkit
from hostkit.config import load_config, open_configured_host

APP = '''
from hostkit.capabilities import CallContext, HostCallInvalid, hookimpl, hookspec


class Specs:
    @hookspec(firstresult=True)
    def world_spawn_monster(self, ctx: CallContext, kind: str, x: int, y: int) -> int | None:
        """spawn-monster"""

    @hookspec(firstresult=True)
    def world_tick(self, ctx: CallContext) -> int | None:
        """tick"""


class World:
    def __init__(self):
        self.spawned = []

    @hookimpl
    def world_spawn_monster(self, ctx, kind, x, y):
        if kind not in ("goblin", "troll"):
            raise HostCallInvalid(f"unknown monster kind {kind!r}")
        self.spawned.append((kind, x, y, ctx.plugin))
        return len(self.spawned)

    @hookimpl
    def world_tick(self, ctx):
        return 7

    @hookimpl
    def hostkit_resource(self, ctx, action, args):
        if action == "acme:game/world#spawn-monster":
            return ("Acme::Monster", str(args["kind"]))
        return None


def make_world():
    return World()


not_a_class = 3
'''

SCHEMA = """
namespace Acme { entity Monster; }
action "acme:game/world#spawn-monster" appliesTo {
  principal: [Plugin], resource: [Acme::Monster], context: { kind: String, x: Long, y: Long }
};
action "acme:game/world#tick" appliesTo { principal: [Plugin], resource: [Plugin], context: {} };
"""

POLICY = """
@id("goblins")
permit (principal == Plugin::"mod", action == Action::"acme:game/world#spawn-monster",
        resource == Acme::Monster::"goblin");
"""


@pytest.fixture
def game(tmp_path: Path, wasm: dict[str, Path], cache_dir: Path) -> Iterator[tuple[Path, str]]:
    """A project directory with the app module (a fresh name per test), the
    schema fragment, a policy and the gamemod component; yields the
    directory and the module name."""
    module = f"gaps9_app_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(APP)
    (tmp_path / "acme.cedarschema").write_text(SCHEMA)
    (tmp_path / "mods.cedar").write_text(POLICY)
    (tmp_path / "gamemod.wasm").write_bytes(wasm["gamemod"].read_bytes())
    (tmp_path / "base.toml").write_text(
        f'[host]\ncache_dir = "{cache_dir}"\nactivation_timeout = 0.5\n'
        '[policies]\nschema = ["acme.cedarschema"]\nfiles = ["mods.cedar"]\n'
        '[[components]]\nname = "mod"\npath = "gamemod.wasm"\n'
        '[[supervisor.children]]\nid = "mod"\ncomponent = "mod"\nname = "mod"\n'
    )
    yield tmp_path, module
    sys.modules.pop(module, None)


def write(project: Path, app: str) -> Path:
    path = project / "host.toml"
    path.write_text((project / "base.toml").read_text() + app)
    return path


@pytest.mark.parametrize("plugin", ["World", "make_world"])
async def test_app_table_serves_a_component_with_the_apps_own_api(
    game: tuple[Path, str], plugin: str
) -> None:
    project, module = game
    path = write(
        project, f'[app]\nhookspecs = ["{module}:Specs"]\nplugins = ["{module}:{plugin}"]\n'
    )
    before = list(sys.path)
    async with open_configured_host(path) as running:
        assert sys.path == before  # the file's directory was on it for the import only
        host = running.host
        (world,) = running.app_plugins
        assert await host.call(host.whereis("mod"), "goblin") == "ok:1"
        assert world.spawned == [("goblin", 3, -4, "mod")]  # type: ignore[attr-defined]
        denied = await host.call(host.whereis("mod"), "troll")  # no policy permits trolls
        assert denied.startswith("err:0:") and 'Acme::Monster::"troll"' in denied
        assert await host.call(host.whereis("mod"), "goblin") == "ok:2"
        assert len(world.spawned) == 2  # type: ignore[attr-defined]


async def test_without_app_the_component_cannot_load(game: tuple[Path, str]) -> None:
    project, _ = game
    with pytest.raises(hostkit.ComponentLoadError, match="acme:game/world"):
        async with open_configured_host(write(project, "")):
            pass


@pytest.mark.parametrize(
    ("app", "problem"),
    [
        ('plugins = ["gaps9_no_such_module:X"]', r"app\.plugins\[0\]: cannot import module"),
        ('plugins = ["{m}:Nope"]', r"app\.plugins\[0\]: .* has no attribute 'Nope'"),
        ('hookspecs = ["{m}:not_a_class"]', r"app\.hookspecs\[0\]: .* is a int"),
        ('hookspecs = ["{m}:Specs"]\nplugins = ["{m}:World", "{m}:World", "1bad"]',
         r"app\.plugins\[2\]: "),
        ('hookspecs = ["{m}:World"]', r"app\.hookspecs\[0\]: did not find any"),
    ],
)  # fmt: skip
async def test_bad_app_entries_name_the_file_and_key(
    game: tuple[Path, str], app: str, problem: str
) -> None:
    project, module = game
    path = write(project, "[app]\n" + app.replace("{m}", module) + "\n")
    with pytest.raises(hostkit.ConfigError, match=problem) as info:
        async with open_configured_host(load_config(path)):
            pass
    assert str(path) in str(info.value)
