"""A Python guest that uses timers (tests/test_timers_python_guest.py).

- cast ``{"after": ms, "msg": m}``: ``send_after(ms, m)``; remembers the tag.
- cast ``{"cancel": true}``: cancels the last timer it set.
- call ``"log"``: what ``handle_info`` saw, as ``[kind, info]`` pairs.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer


class Ticker(GenServer):
    def init(self, args: str) -> None:
        self.seen: list[Any] = []
        self.last = 0

    def handle_cast(self, msg: Any) -> None:
        if msg.get("cancel"):
            self.cancel_timer(self.last)
        else:
            self.last = self.send_after(msg["after"], msg["msg"])

    def handle_call(self, msg: Any, from_: From) -> Any:
        return self.seen

    def handle_info(self, kind: str, msg: Any) -> None:
        self.seen.append([kind, msg])


Actor = hostkit_guest.export(Ticker)
