"""The AI tool sandbox example: a scripted agent loop calling sandboxed tools.

    python examples/ai_tools/agent.py

No model is needed: the "model" is a script of tool calls, the same JSON an
LLM's function calling would produce. What is real is everything else: the
host ``host.toml`` (next to this file) describes, three tool plugins, their
grants, a web server on loopback, and the audit log.

- ``calculator`` has no capabilities at all;
- ``fetcher`` may GET ``http://127.0.0.1:8765`` and nothing else; the agent
  also asks it for ``https://example.com/``, which the host refuses, and the
  agent reads the refusal and its reason like any other tool result;
- ``notes`` keeps notes in the host's key-value store, under ``note/``.

Each tool answers ``"schema"`` with its JSON schema, which is what an agent
hands a model as the list of callable functions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import trio

from hostkit.config import ConfiguredHost, HostFile, load_config, open_configured_host

HERE = Path(__file__).resolve().parent
PORT = 8765
TOOLS = {"calculator": "tool.calculator", "fetch": "tool.fetcher", "notes": "tool.notes"}
PAGE = {"city": "Lisbon", "forecast": "sunny", "high_c": 24}


def script(port: int) -> list[tuple[str, dict[str, Any]]]:
    """What the "model" decides to call, in order."""
    return [
        ("calculator", {"expression": "(17 + 25) * 3 / 2"}),
        ("fetch", {"url": f"http://127.0.0.1:{port}/weather"}),
        ("fetch", {"url": "https://example.com/"}),
        ("notes", {"action": "write", "title": "weather", "text": "Lisbon: sunny, 24 C"}),
        ("calculator", {"expression": "__import__('os').system('id')"}),
        ("notes", {"action": "list"}),
        ("notes", {"action": "read", "title": "weather"}),
    ]


async def serve_page(port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """A tiny HTTP/1.1 server on loopback answering every GET with ``PAGE``."""

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                request += chunk
            body = json.dumps(PAGE).encode()
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
            await stream.send_all(head.encode() + body)

    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    task_status.started()
    await trio.serve_listeners(answer, listeners)


async def call_tool(running: ConfiguredHost, tool: str, args: Any) -> Any:
    host = running.host
    pid = host.whereis(TOOLS[tool])
    if pid is None:
        return {"error": "unavailable", "detail": f"tool {tool} is restarting"}
    return json.loads(await host.call(pid, json.dumps(args), timeout=15))


async def run_agent(config: HostFile | Path = HERE / "host.toml", port: int = PORT) -> list[Any]:
    """Run the script; returns ``[(tool, args, result), ...]`` after the schemas."""
    transcript: list[Any] = []
    async with open_configured_host(config) as running, trio.open_nursery() as nursery:
        await nursery.start(serve_page, port)
        schemas = [await call_tool(running, tool, "schema") for tool in TOOLS]
        transcript.append(("schemas", schemas))
        for tool, args in script(port):
            transcript.append((tool, args, await call_tool(running, tool, args)))
        nursery.cancel_scope.cancel()
    return transcript


def with_port(port: int, config: Path = HERE / "host.toml") -> HostFile:
    """``host.toml`` with the fetcher's grant moved to ``port``."""
    from hostkit.config import parse_config

    text = config.read_text().replace(f"port = {PORT}", f"port = {port}")
    return parse_config(text, config)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else PORT
    config = with_port(port) if port != PORT else load_config(HERE / "host.toml")
    transcript = trio.run(run_agent, config, port)
    schemas = transcript[0][1]
    print("tools offered to the model:", ", ".join(s["name"] for s in schemas))
    for tool, args, result in transcript[1:]:
        print(f"-> {tool} {json.dumps(args)}")
        print(f"<- {json.dumps(result)}")


if __name__ == "__main__":
    main()
