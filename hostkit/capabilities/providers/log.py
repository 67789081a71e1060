"""The stock ``hostkit:host/log`` provider: guest lines into Python logging."""

from __future__ import annotations

import logging
from typing import Literal

from ..._text import inert
from .._context import CallContext
from .._hookspecs import hookimpl
from .._host_errors import HostCallInvalid
from .._host_types import LogLevel

__all__ = ["TRACE", "LogProvider"]

TRACE = 5
"""The Python logging level of the guest level ``trace`` (below DEBUG)."""

_LEVELS = {
    LogLevel.TRACE: TRACE,
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


class LogProvider:
    """Serves ``log_write`` by logging to ``<logger>.<plugin>``.

    Each record carries ``extra`` fields ``hostkit_plugin``, ``hostkit_pid``
    and ``hostkit_actor``, and its message is prefixed with
    ``"<plugin>[<pid>]"`` (plus ``" <actor>"`` if named).

    Args:
        logger: Parent logger name.
        max_chars: Messages longer than this are cut (after escaping) and
            marked with how much was dropped.
    """

    def __init__(self, *, logger: str = "hostkit.plugins", max_chars: int = 4096) -> None:
        self.logger = logger
        self.max_chars = max_chars

    @hookimpl
    def log_write(self, ctx: CallContext, level: LogLevel, message: str) -> Literal[True]:
        try:
            py_level = _LEVELS[LogLevel(level)]
        except ValueError:
            raise HostCallInvalid(f"unknown log level {level!r}") from None
        # One guest call is one log line: it cannot forge others (newlines,
        # carriage returns, ANSI escapes, bidi overrides).
        text = inert(message, self.max_chars)
        # The actor's registered name is guest-chosen too.
        tag = f"{ctx.plugin}[{ctx.pid}]" + (f" {inert(ctx.actor, 256)}" if ctx.actor else "")
        logging.getLogger(f"{self.logger}.{ctx.plugin}").log(
            py_level,
            "%s: %s",
            tag,
            text,
            extra={
                "hostkit_plugin": ctx.plugin,
                "hostkit_pid": ctx.pid,
                "hostkit_actor": ctx.actor,
            },
        )
        return True
