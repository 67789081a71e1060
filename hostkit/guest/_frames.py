"""The one frame codec of ``actor.deliver`` (see ``wit/plugin/plugin.wit``),
used by the host to build batches and read outboxes, and by the guest SDK.

A frame is a 41-byte ASCII header -- kind (1 letter), pid (16 lowercase hex
digits), ref (16), payload length in UTF-8 *bytes* (8) -- then the payload.
``deliver`` receives and returns strings, so a batch is encoded to UTF-8 once
and sliced by byte offsets; slicing the ``str`` by character offsets would be
wrong as soon as a payload holds anything outside ASCII.

Decoding hostile input raises :class:`FrameError` and nothing else (property
tests hold it to that). Pure standard library: this module is bundled into
every Python guest, and the host imports it as ``hostkit._frames``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
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
    "frame",
    "iter_frames",
]

HEADER_SIZE = 41
MAX_ID = 2**64 - 1
MAX_PAYLOAD = 2**32 - 1

# int(x, 16) also accepts "+", "_", whitespace, "0x" and uppercase: the header
# is checked against the exact grammar instead.
_HEADER = re.compile(rb"[A-Za-z][0-9a-f]{40}").fullmatch


class FrameError(ValueError):
    """A batch or frame does not follow the wire format. Inbound, the host
    (or whoever built the batch) is at fault; outbound, the caller passed a
    value the format cannot carry. ``offset`` is the byte offset of the
    frame at fault (-1 for an encoding error)."""

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message)
        self.offset = offset


class Frame(NamedTuple):
    """One frame. ``pid`` is the sender (inbound) or target (outbound);
    ``ref`` a call reference or tag, 0 when unused."""

    kind: str
    pid: int
    ref: int
    payload: str


def frame(kind: bytes, pid: int, ref: int, payload: bytes) -> bytes:
    """One frame from trusted values (the host's fast path): ``kind`` one
    ASCII letter, ``pid``/``ref`` below 2**64, ``payload`` UTF-8 bytes."""
    return b"%s%016x%016x%08x" % (kind, pid, ref, len(payload)) + payload


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
    return frame(kind.encode(), pid, ref, data)


def encode_frames(frames: Iterable[Frame]) -> str:
    """A batch (or outbox) of frames as the string ``deliver`` carries."""
    return b"".join([encode_frame(*f) for f in frames]).decode()


def iter_frames(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """Walk the frames of ``data``: yields ``(kind, pid, ref, start, end)``
    with ``kind`` the letter's byte value and ``data[start:end]`` the payload.

    ``data`` is taken to be valid UTF-8 as a whole (what wasmtime hands the
    host for a ``string``); a payload is then valid iff neither of its ends
    splits a character, which is checked. Frames before a bad one have been
    yielded when the error is raised.

    Raises:
        FrameError: naming the byte offset of the first malformed frame.
    """
    i, n = 0, len(data)
    while i < n:
        if n - i < HEADER_SIZE:
            raise FrameError(f"truncated frame header at byte {i}", i)
        if _HEADER(data, i, i + HEADER_SIZE) is None:
            raise FrameError(
                f"malformed frame header at byte {i}: {data[i : i + HEADER_SIZE]!r}", i
            )
        start = i + HEADER_SIZE
        length = int(data[i + 33 : start], 16)
        end = start + length
        if end > n:
            raise FrameError(
                f"frame at byte {i} declares {length} payload bytes but only {n - start} remain",
                i,
            )
        # A continuation byte (10xxxxxx) right after either end of the
        # payload means the slice cuts a character in two.
        if (length and data[start] & 0xC0 == 0x80) or (end < n and data[end] & 0xC0 == 0x80):
            raise FrameError(
                f"the payload of the frame at byte {i} is not UTF-8 on its own: "
                "one of its ends splits a character",
                i,
            )
        yield data[i], int(data[i + 1 : i + 17], 16), int(data[i + 17 : i + 33], 16), start, end
        i = end


def decode_frames(batch: str | bytes) -> list[Frame]:
    """Split a batch into frames.

    Raises:
        FrameError: naming the byte offset of the first malformed frame.
    """
    data = batch.encode() if isinstance(batch, str) else bytes(batch)
    frames: list[Frame] = []
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        raise FrameError(f"the batch is not UTF-8: {exc}", exc.start) from None
    for kind, pid, ref, start, end in iter_frames(data):
        frames.append(Frame(chr(kind), pid, ref, data[start:end].decode()))
    return frames
