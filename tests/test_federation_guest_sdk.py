"""The Python guest SDK's ``hostkit_guest.remote``: a componentize-py guest
(plugins/python/fed_sdk, world ``hostkit:federation/federated-plugin``) on one
host looks up, calls and is called by actors on another, and the pure pid
helpers agree with the host's layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pluggy
import pytest
import trio

import hostkit
from hostkit.capabilities import Gate
from hostkit.federation import (
    ClusterSecret,
    GuestRemote,
    PidSlots,
    RemotePid,
    federation_schema,
    open_host_federation,
)
from hostkit.guest import remote
from hostkit.testing import MemoryNetwork

ROOT = Path(__file__).resolve().parent.parent
SECRET = bytes(range(32))


class Allow:
    def allows(self, peer, action, target, context):
        return True


def test_the_sdks_pid_helpers_agree_with_the_hosts_node_slots() -> None:
    slots = PidSlots()
    wire = slots.encode(RemotePid("b", 7, 42))
    assert remote.node_slot(wire) == 1 and not remote.is_local(wire)
    assert remote.local_id(wire) == 42
    assert remote.is_local(42) and remote.node_slot(42) == 0 and remote.local_id(42) == 42
    assert remote.LOCAL_ID_BITS == 48


def test_without_the_bindings_remote_calls_say_what_the_world_lacks() -> None:
    from hostkit.guest import HostCallFailed

    with pytest.raises(HostCallFailed, match="hostkit:federation/remote") as caught:
        remote.whereis("b", "svc")
    assert caught.value.case == "unsupported"


@pytest.fixture(scope="session")
def fed_sdk_wasm(python_guests: Any) -> Path:
    import hostkit.build

    app = ROOT / "plugins" / "python" / "fed_sdk"
    out = ROOT / "plugins" / "build" / "fed_sdk.wasm"
    return hostkit.build.build_python(app, out, world="hostkit:federation/federated-plugin").path


@pytest.mark.slow
async def test_a_python_guest_finds_calls_and_is_called_across_nodes(
    cache_dir, wasm, fed_sdk_wasm
) -> None:
    net = MemoryNetwork()
    remote_api = GuestRemote()
    plugins = pluggy.PluginManager("hostkit")
    remote_api.register(plugins)
    gate = Gate(
        plugins,
        policies='@id("all") permit (principal, action, resource);',
        schema=federation_schema(),
    )
    common = dict(authenticator=ClusterSecret(SECRET), transport=net, policy=Allow())
    cfg_a = hostkit.HostConfig(
        node_name="a", scheduler_threads=1, cache_dir=cache_dir, wasi=True, activation_timeout=10.0
    )
    cfg_b = hostkit.HostConfig(node_name="b", scheduler_threads=1, cache_dir=cache_dir)
    async with (
        hostkit.open_host(cfg_a, capabilities=gate) as a,
        hostkit.open_host(cfg_b) as b,
        open_host_federation(a, guest_remote=remote_api, **common) as fed_a,
        open_host_federation(b, **common) as fed_b,
    ):
        fed_a.add_peer("b", await fed_b.listen("b"))
        with trio.fail_after(10):
            await fed_a.wait_up("b")
        await a.load_async(fed_sdk_wasm, name="fed_sdk")
        b.load(wasm["echo"], name="echo")
        svc = await b.spawn("echo")
        b.register(svc, "svc")
        guest = await a.spawn("fed_sdk")

        async def ask(msg: dict[str, Any]) -> Any:
            return json.loads(await a.call(guest, json.dumps(msg), timeout=30))

        with trio.fail_after(60):
            found = await ask({"op": "whereis", "node": "b", "name": "svc"})
            assert found["slot"] >= 1 and found["local"] is False and found["node"] == "b"
            assert fed_a.local.guest_pid(found["pid"]) == svc
            assert await ask({"op": "call", "pid": found["pid"], "msg": "hi"}) == "hi"
            assert await ask({"op": "whereis", "node": "b", "name": "nobody"}) == {
                "error": "not-found",
                "detail": "no actor is registered as 'nobody' on 'b'",
            }
            # called from b's host: the caller's node, as the guest sees it
            answer = json.loads(await b.call(guest, json.dumps("ping"), timeout=30))
            assert answer == {"from_node": "b", "msg": "ping"}
