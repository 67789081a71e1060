"""The wire frames of ``actor.deliver`` (see ``wit/plugin/plugin.wit``).

A frame is a 41-byte ASCII header -- kind (1 letter), pid (16 lowercase hex
digits), ref (16), payload length in UTF-8 *bytes* (8) -- then the payload.
``deliver`` receives and returns strings, so a batch is encoded to UTF-8 once
and sliced by byte offsets; slicing the ``str`` by character offsets would be
wrong as soon as a payload holds anything outside ASCII.

Pure standard library: this module runs inside the guest, and on the host in
the unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "HEADER_SIZE",
    "MAX_ID",
    "MAX_PAYLOAD",
    "Frame",
    "FrameError",
    "decode_frames",
    "encode_frame",
    "encode_frames",
]

HEADER_SIZE = 41
MAX_ID = 2**64 - 1
MAX_PAYLOAD = 2**32 - 1

# int(x, 16) also accepts "+", "_", whitespace, "0x" and uppercase: the header
# is checked against the exact grammar instead.
_HEADER = re.compile(rb"[A-Za-z][0-9a-f]{40}")


class FrameError(ValueError):
    """A batch or frame does not follow the wire format. Inbound, the host
    (or whoever built the batch) is at fault; outbound, the caller passed a
    value the format cannot carry."""


class Frame(NamedTuple):
    """One frame. ``pid`` is the sender (inbound) or target (outbound);
    ``ref`` a call reference or tag, 0 when unused."""

    kind: str
    pid: int
    ref: int
    payload: str


def encode_frame(kind: str, pid: int, ref: int, payload: str) -> bytes:
    """One frame as UTF-8 bytes.

    Raises:
        FrameError: ``kind`` is not one ASCII letter, ``pid``/``ref`` do not
            fit in 64 bits, or the payload exceeds 2**32 - 1 bytes.
    """
    if len(kind) != 1 or not ("a" <= kind <= "z" or "A" <= kind <= "Z"):
        raise FrameError(f"frame kind must be one ASCII letter, got {kind!r}")
    if not 0 <= pid <= MAX_ID:
        raise FrameError(f"pid {pid!r} does not fit in 64 bits")
    if not 0 <= ref <= MAX_ID:
        raise FrameError(f"ref {ref!r} does not fit in 64 bits")
    data = payload.encode()
    if len(data) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(data)} bytes is too large for a frame")
    return b"%s%016x%016x%08x" % (kind.encode(), pid, ref, len(data)) + data


def encode_frames(frames: Iterable[Frame]) -> str:
    """A batch (or outbox) of frames as the string ``deliver`` carries."""
    return b"".join([encode_frame(*f) for f in frames]).decode()


def decode_frames(batch: str | bytes) -> list[Frame]:
    """Split a batch into frames.

    Raises:
        FrameError: naming the byte offset of the first malformed frame.
    """
    data = batch.encode() if isinstance(batch, str) else bytes(batch)
    frames: list[Frame] = []
    i, n = 0, len(data)
    while i < n:
        if n - i < HEADER_SIZE:
            raise FrameError(f"truncated frame header at byte {i}")
        header = data[i : i + HEADER_SIZE]
        if _HEADER.fullmatch(header) is None:
            raise FrameError(f"malformed frame header at byte {i}: {header!r}")
        length = int(header[33:41], 16)
        end = i + HEADER_SIZE + length
        if end > n:
            raise FrameError(
                f"frame at byte {i} declares {length} payload bytes but only "
                f"{n - i - HEADER_SIZE} remain"
            )
        try:
            payload = data[i + HEADER_SIZE : end].decode()
        except UnicodeDecodeError as exc:
            raise FrameError(f"payload of the frame at byte {i} is not UTF-8: {exc}") from None
        frames.append(Frame(chr(header[0]), int(header[1:17], 16), int(header[17:33], 16), payload))
        i = end
    return frames
