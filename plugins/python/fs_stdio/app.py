"""A guest that floods its stdout and stderr: the host's output sink tests.

Messages (JSON):

- call ``{"op": "print", "n": n, "text": s}``: print ``s`` ``n`` times to
  stdout (flushed), reply ``n``.
- call ``{"op": "err", "text": s, "n": n}``: write ``s * n`` to stderr, no
  newline added (flushed), reply its length.
"""

from __future__ import annotations

import sys
from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer


class Flood(GenServer):
    def init(self, args: str) -> None:
        pass

    def handle_call(self, msg: Any, from_: From) -> Any:
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "print":
            text = str(msg.get("text", ""))
            for _ in range(int(msg.get("n", 1))):
                print(text)
            sys.stdout.flush()
            return msg.get("n", 1)
        if op == "err":
            text = str(msg.get("text", "")) * int(msg.get("n", 1))
            sys.stderr.write(text)
            sys.stderr.flush()
            return len(text)
        return {"error": f"unknown call: {msg!r:.200}"}


Actor = hostkit_guest.export(Flood)
