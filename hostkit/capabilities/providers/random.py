"""The stock ``hostkit:host/random`` provider: the OS's secure randomness."""

from __future__ import annotations

import secrets

from .._context import CallContext
from .._hookspecs import hookimpl
from .._host_errors import HostCallInvalid, HostCallTooLarge

__all__ = ["RandomProvider"]


class RandomProvider:
    """Serves ``random_*`` hooks from :mod:`secrets` (``os.urandom``).

    Args:
        max_bytes: Most bytes one ``hex_bytes`` call returns.
    """

    def __init__(self, *, max_bytes: int = 64 * 1024) -> None:
        self.max_bytes = max_bytes

    @hookimpl
    def random_next_u64(self, ctx: CallContext) -> int:
        return secrets.randbits(64)

    @hookimpl
    def random_hex_bytes(self, ctx: CallContext, count: int) -> str:
        if count < 0:
            raise HostCallInvalid(f"count must not be negative, got {count}")
        if count > self.max_bytes:
            raise HostCallTooLarge(f"count exceeds {self.max_bytes} bytes")
        return secrets.token_hex(count)
