"""host.toml: every malformed file names the file, the key and what is
expected; a good one becomes grants, flags and child specs; booting it gives
a gated, audited, supervised host."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import hostkit
from hostkit.capabilities import FileRead
from hostkit.config import host_config, load_config, open_configured_host, parse_config
from hostkit.supervision import ActorStart, Restart, Strategy, SupervisorStart


@pytest.fixture
def project(tmp_path: Path, wasm: dict[str, Path]) -> Path:
    """A directory with a component and a data folder, as a host.toml sees it."""
    (tmp_path / "echo.wasm").write_bytes(wasm["echo"].read_bytes())
    (tmp_path / "data").mkdir()
    return tmp_path


GOOD = """
[host]
node = "n1"
activation_timeout = 0.5
scheduler_threads = 2

[audit]
path = "state/audit.log"

[files.roots]
"/data" = "data"
"/out" = { path = "out", writable = true }

[[components]]
name = "echo"
path = "echo.wasm"
groups = ["g"]

[[grants]]
plugin = "echo"
file_read = ["/data/**"]
network = ["api.example.com", { host = "127.0.0.1", port = 8080, methods = ["get"] }]

[supervisor]
strategy = "rest_for_one"
intensity = 4
period = 2

[[supervisor.children]]
id = "a"
component = "echo"
name = "echo.a"
restart = "transient"

[[supervisor.children]]
id = "sub"
strategy = "one_for_all"
children = [{ id = "b", component = "echo", init = "x", shutdown = "brutal_kill" }]
"""


def write(project: Path, text: str, name: str = "host.toml") -> Path:
    path = project / name
    path.write_text(text)
    return path


def error_of(project: Path, text: str) -> str:
    with pytest.raises(hostkit.ConfigError) as info:
        load_config(write(project, text))
    return str(info.value)


def test_a_good_file_becomes_grants_flags_and_child_specs(project: Path) -> None:
    cfg = load_config(str(write(project, GOOD)))  # a str path is fine
    assert cfg.path == project / "host.toml"
    assert cfg.component_paths == {"echo": project / "echo.wasm"}
    assert cfg.flags.strategy is Strategy.REST_FOR_ONE and cfg.flags.intensity == 4
    a, sub = cfg.children
    assert a.start == ActorStart("echo", "", "echo.a") and a.restart is Restart.TRANSIENT
    assert isinstance(sub.start, SupervisorStart) and sub.kind == "supervisor"
    assert sub.start.flags.strategy is Strategy.ONE_FOR_ALL
    assert sub.start.children[0].start == ActorStart("echo", "x")
    ids = [g.id for g in cfg.grants]
    assert FileRead("/data/**").for_plugin("echo").id in ids
    assert any("127.0.0.1" in g.to_cedar() and '"GET"' in g.to_cedar() for g in cfg.grants)
    hc = host_config(cfg)
    assert (hc.activation_timeout, hc.scheduler_threads) == (0.5, 2)


def test_relative_paths_are_relative_to_the_file_not_the_cwd(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, GOOD)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    cfg = load_config(project / "host.toml")
    assert cfg.resolve("state/audit.log") == project / "state" / "audit.log"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[host\n", "not valid TOML"),
        ("[hosts]\n", "unknown section [hosts]; expected one of: host, audit"),
        ("[federation]\npeers = []\n", "federation: give exactly one credential"),
        ("[host]\nnode = 3\n", "host.node: expected `str`, got `int`"),
        ("[host]\nscheduler_threads = 0\n", "host.scheduler_threads: expected `int` >= 1"),
        ("[host]\nthreads = 2\n", "host.threads: unknown key; expected one of: node,"),
        ("[[components]]\npath = 'echo.wasm'\n", "components[0].name: required, missing"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\npth = 1\n",
         "components[0].pth: unknown key; expected one of: name, path, version"),
        ("[[components]]\nname = 'e'\npath = 'nope.wasm'\n", "components[0].path: file not found"),
        ("[[components]]\nname = 'bad name'\npath = 'echo.wasm'\n", "components[0].name: expected"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n"
         "[[components]]\nname = 'e'\npath = 'echo.wasm'\n",
         "components[1].name: 'e' is used by an earlier component"),
        ("[[grants]]\nplugin = 'ghost'\nfile_read = ['/x']\n",
         "grants[0].plugin: no component named 'ghost'"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n[[grants]]\nplugin = 'e'\n",
         "grants[0]: grants nothing"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n[[grants]]\nfile_read = ['/x']\n",
         "grants[0]: needs exactly one of plugin"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n[[grants]]\nplugin = 'e'\n"
         "network = ['ok.example', 'not a host!']\n", "grants[0].network[1]: host 'not a host!'"),
        ("[supervisor]\nstrategy = 'simple_one_for_one'\n",
         "supervisor: strategy: unknown Strategy 'simple_one_for_one'"),
        ("[[supervisor.children]]\nid = 'a'\ncomponent = 'ghost'\n",
         "supervisor.children[0].component: no component named 'ghost' (known: none"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n"
         "[[supervisor.children]]\nid = 'a'\n", "supervisor.children[0]: give either component"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n"
         "[[supervisor.children]]\nid = 'a'\ncomponent = 'e'\nrestart = 'sometimes'\n",
         "supervisor.children[0]: child 'a': restart: unknown Restart 'sometimes'"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n"
         "[[supervisor.children]]\nid = 'a'\ncomponent = 'e'\n"
         "[[supervisor.children]]\nid = 'a'\ncomponent = 'e'\n",
         "supervisor.children[1].id: 'a' is used by an earlier child"),
        ("[[components]]\nname = 'e'\npath = 'echo.wasm'\n"
         "[[supervisor.children]]\nid = 'a'\ncomponent = 'e'\nstrategy = 'one_for_all'\n",
         "supervisor.children[0].strategy: only a nested supervisor has this"),
        ("[files.roots]\n'/data' = 'missing'\n", "files.roots.'/data': directory not found"),
        ("[policies]\nfiles = ['nope.cedar']\n", "policies.files[0]: not found"),
    ],
)
def test_a_bad_file_names_the_file_the_key_and_what_is_expected(
    project: Path, text: str, expected: str
) -> None:
    message = error_of(project, text)
    assert message.startswith(str(project / "host.toml") + ": ")
    assert expected in message


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(hostkit.ConfigError, match=r"nope\.toml: cannot read"):
        load_config(tmp_path / "nope.toml")


def test_a_host_limit_hostkit_refuses_names_the_key(project: Path) -> None:
    cfg = load_config(write(project, "[host]\ntick_seconds = 5.0\nactivation_timeout = 1.0\n"))
    with pytest.raises(hostkit.ConfigError, match=r"host\.tick_seconds: "):
        host_config(cfg)


def test_the_arena_and_actor_caps_come_from_the_host_table(project: Path) -> None:
    text = "[host]\narena = true\nmax_actors = 150000\nmax_memory_bytes = 131072\n"
    cfg = host_config(load_config(write(project, text)))
    assert cfg.arena is True and cfg.max_actors == 150_000
    assert cfg.arena_settings() is not None
    assert host_config(load_config(write(project, "[host]\n"))).arena is False
    with pytest.raises(hostkit.ConfigError, match=r"host\.arena: expected `bool`"):
        load_config(write(project, '[host]\narena = "yes"\n'))


def test_parse_config_resolves_against_the_path_given(project: Path) -> None:
    cfg = parse_config(GOOD, project / "virtual.toml")
    assert cfg.component_paths["echo"] == project / "echo.wasm"


async def test_booting_a_file_gives_a_gated_audited_supervised_host(
    project: Path, cache_dir: Path
) -> None:
    text = GOOD.replace("[audit]", f'cache_dir = "{cache_dir}"\n\n[audit]')
    async with open_configured_host(write(project, text)) as running:
        host = running.host
        assert await host.call(host.whereis("echo.a"), "hi") == "hi"
        assert {c.id for c in running.supervisor.which_children()} == {"a", "sub"}
        assert running.components["echo"].digest
        assert (project / "out").is_dir()  # writable roots are created
    records = [json.loads(ln) for ln in (project / "state" / "audit.log").read_text().splitlines()]
    assert records[0]["event"] == "policy-load"
    assert any(r["event"] == "spawn" and r["plugin"] == "echo" for r in records)
    assert records[-1]["event"] == "exit"  # the tree stopped before the log closed


async def test_booting_a_path_string_and_the_default_kv_in_memory(
    project: Path, cache_dir: Path
) -> None:
    text = f'[host]\ncache_dir = "{cache_dir}"\n[[components]]\nname = "e"\npath = "echo.wasm"\n'
    async with open_configured_host(os.fspath(write(project, text))) as running:
        assert running.components["e"].name == "e"
        assert list(running.supervisor.which_children()) == []


async def test_hostkits_default_policy_is_in_force_unless_switched_off(
    project: Path, cache_dir: Path
) -> None:
    base = f'[host]\ncache_dir = "{cache_dir}"\n[audit]\npath = "a.log"\n'
    for extra, expected in (("", True), ("[policies]\ndefault = false\n", False)):
        (project / "a.log").unlink(missing_ok=True)
        async with open_configured_host(write(project, base + extra)):
            pass
        first = json.loads((project / "a.log").read_text().splitlines()[0])
        assert first["event"] == "policy-load"
        assert ("default:log" in first["policies"]) is expected


def test_hostkit_config_lists_each_public_name_once() -> None:
    import hostkit.config as module

    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    public = {a for a, v in vars(module).items()
              if not a.startswith("_") and not isinstance(v, type(os)) and a != "annotations"}
    assert public == set(exported)
    assert issubclass(hostkit.ConfigError, hostkit.HostkitError)
    assert "ConfigError" in hostkit.__all__
