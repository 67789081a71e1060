"""Two nodes in two OS processes, over websocket on loopback."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import trio
from test_federation_nodes import SECRET, Actors, Allow

from hostkit.federation import ClusterSecret, RemotePid, WebsocketTransport, open_federation

CHILD = textwrap.dedent(
    """
    import sys, trio
    from hostkit.federation import ClusterSecret, WebsocketTransport, open_federation

    class Host:
        def deliver(self, sender, target, payload):
            print("got", target, payload.decode(), flush=True)
            return None if target == 1 else "noproc"
        def is_alive(self, pid):
            return pid == 1
        def node_up(self, node):
            print("up", node.name, flush=True)
        def node_down(self, node, reason):
            pass

    class Allow:
        def allows(self, peer, action, target, context):
            return True

    async def main():
        async with open_federation("b", authenticator=ClusterSecret(bytes(range(32))),
                                   transport=WebsocketTransport(), local=Host(),
                                   policy=Allow()) as fed:
            print("listening", await fed.listen("127.0.0.1:0"), flush=True)
            await trio.sleep_forever()

    trio.run(main)
    """
)


async def test_nodes_in_two_processes_message_and_see_each_other_die():
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", CHILD], stdout=-1, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    lines: list[str] = []
    buffer = b""

    async def read_line() -> str:
        nonlocal buffer
        with trio.fail_after(30):
            while b"\n" not in buffer:
                chunk = await process.stdout.receive_some()
                assert chunk, "child exited"
                buffer += chunk
        line, _, buffer = buffer.partition(b"\n")
        lines.append(line.decode())
        return lines[-1]

    try:
        address = (await read_line()).split()[1]
        host = Actors()
        async with open_federation(
            "a",
            authenticator=ClusterSecret(SECRET),
            transport=WebsocketTransport(),
            local=host,
            policy=Allow(),
            reconnect=(0.2, 0.5),
        ) as fed:
            host.fed = fed
            fed.add_peer("b", address)
            with trio.fail_after(30):
                peer = await fed.wait_up("b")
            assert await read_line() == "up a"
            me = host.new()
            target = RemotePid("b", peer.creation, 1)
            fed.link(me, target)
            for i in range(3):
                fed.send(target, me, b"hello %d" % i)
            fed.send(RemotePid("b", peer.creation, 2), me, b"nobody", tag=5)
            assert [await read_line() for _ in range(4)] == [
                "got 1 hello 0",
                "got 1 hello 1",
                "got 1 hello 2",
                "got 2 nobody",
            ]
            await host.wait_for(lambda: host.of("undeliverable"))
            assert host.of("undeliverable") == [(me, RemotePid("b", peer.creation, 2), 5, "noproc")]
            process.send_signal(signal.SIGKILL)  # the OS closes its sockets: no Bye
            await host.wait_for(lambda: host.of("node-down"))
            assert host.of("exit") == [(target, me, "noconnection")]
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            await process.stdout.aclose()
