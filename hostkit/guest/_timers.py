"""Guest timers: ``GenServer.send_after`` / ``cancel_timer`` and the ``i``
frames they come back as (see ``docs/reference/wire-format.md``).

A timer is an outbox ``t`` frame -- ref: the tag, payload: the delay in
milliseconds in decimal, a newline, the message -- carried out after the
batch. When it is due the host delivers an ``i`` frame with the same tag
and the message; a ``k`` frame with the tag cancels it. The host caps the
pending timers per actor (``max_timers_per_actor``); past the cap a ``t``
frame comes back as a ``u`` frame with the tag and ``too-many-timers``.
Only the standard library: this module is bundled into every Python guest.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MAX_DELAY_MS", "timer_info", "timer_payload"]

#: The longest delay the host accepts, in ms (about 49.7 days, as Erlang).
MAX_DELAY_MS: Final = 2**32 - 1
_MAX_TAG: Final = 2**64 - 1


def timer_payload(delay_ms: int, message: str) -> str:
    """The payload of a ``t`` frame.

    Raises:
        ValueError: ``delay_ms`` is not an int in ``0..MAX_DELAY_MS``.
    """
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int):
        raise ValueError(f"send_after delay_ms must be an int (milliseconds), got {delay_ms!r}")
    if not 0 <= delay_ms <= MAX_DELAY_MS:
        raise ValueError(f"send_after delay_ms must be in 0..{MAX_DELAY_MS}, got {delay_ms}")
    return f"{delay_ms}\n{message}"


def check_tag(tag: int) -> int:
    """A timer tag: an int in ``0..2**64 - 1``.

    Raises:
        ValueError: it is not.
    """
    if isinstance(tag, bool) or not isinstance(tag, int) or not 0 <= tag <= _MAX_TAG:
        raise ValueError(f"a timer tag must be an int in 0..2**64-1, got {tag!r}")
    return tag


def timer_info(tag: int, msg: Any) -> dict[str, Any]:
    """What ``handle_info("timer", ...)`` gets for a fired timer."""
    return {"tag": tag, "msg": msg}
