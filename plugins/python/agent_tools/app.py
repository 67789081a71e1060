"""Sandboxed tools for an AI agent: hostkit's example for
docs/tutorials/ai-tool-sandbox.md (world ``hostkit:host/full-plugin``).

Each call names a tool and its arguments, and is answered
``{"ok": value}`` or ``{"error": case, "detail": text}``, where ``case`` is
the host's WIT error case (``denied``, ``too-large``, ``rate-limited``, ...):

- ``{"tool": "list_dir", "path": p}``: the names in guest directory ``p``.
- ``{"tool": "read_file", "path": p}``: the text of guest file ``p``.
- ``{"tool": "write_file", "path": p, "text": t}``: write ``t``; bytes written.
- ``{"tool": "http_get", "url": u}``: GET ``u``; ``{"status": s, "body": b}``.
- ``{"tool": "count_primes", "below": n}``: the primes below ``n``, counted
  the slow way: a CPU-bound tool whose run time the caller does not control.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, host


def count_primes(below: int) -> int:
    return sum(1 for n in range(2, below) if all(n % d for d in range(2, int(n**0.5) + 1)))


class Tools(GenServer):
    def handle_call(self, msg: Any, from_: From) -> Any:
        try:
            return {"ok": self.run(msg)}
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}

    def run(self, msg: Any) -> Any:
        tool = msg.get("tool") if isinstance(msg, dict) else None
        if tool == "list_dir":
            return [entry.name for entry in host.files_list_dir(msg["path"])]
        if tool == "read_file":
            return host.files_read(msg["path"])
        if tool == "write_file":
            return host.files_write(msg["path"], msg["text"])
        if tool == "http_get":
            resp = host.http_request("GET", msg["url"], timeout_ms=5000)
            return {"status": resp.status, "body": resp.body}
        if tool == "count_primes":
            return count_primes(int(msg["below"]))
        raise ValueError(f"unknown tool {tool!r}")


Actor = hostkit_guest.export(Tools)
