"""Property tests of the one frame codec (``hostkit._frames``, the guest
SDK's ``_frames``): whatever a guest hands the host decodes to frames or to
`FrameError`, never to another exception, and what decodes is exactly what
was encoded."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from hostkit import _frames
from hostkit._frames import (
    HEADER_SIZE,
    MAX_ID,
    Frame,
    FrameError,
    decode_frames,
    encode_frame,
    encode_frames,
    frame,
    iter_frames,
)
from hostkit.guest import _frames as guest_frames

ids = st.integers(min_value=0, max_value=MAX_ID)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=64)
frames = st.builds(Frame, st.sampled_from("csrnxqiupde"), ids, ids, texts)


def test_host_and_guest_share_one_codec() -> None:
    assert _frames.iter_frames is guest_frames.iter_frames
    assert _frames.decode_frames is guest_frames.decode_frames


@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_raise_frame_error(data: bytes) -> None:
    try:
        decoded = decode_frames(data)
    except FrameError:
        return
    assert encode_frames(decoded).encode() == data


@given(texts.map(str.encode))
def test_arbitrary_text_walks_or_raises_frame_error(data: bytes) -> None:
    try:
        for _kind, _pid, _ref, start, end in iter_frames(data):
            data[start:end].decode()  # every yielded payload is valid UTF-8
    except FrameError as exc:
        assert 0 <= exc.offset < len(data)


@given(st.lists(frames, max_size=8), st.data())
def test_one_corrupted_byte_never_raises_anything_else(
    batch: list[Frame], data: st.DataObject
) -> None:
    raw = bytearray(encode_frames(batch).encode())
    if not raw:
        return
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(FrameError):  # any other exception fails the test
        decode_frames(bytes(raw))


@given(st.lists(frames, max_size=8), st.data())
def test_truncation_is_refused_with_the_offset(batch: list[Frame], data: st.DataObject) -> None:
    raw = encode_frames(batch).encode()
    if not raw:
        return
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        got = decode_frames(raw[:cut])
    except FrameError as exc:
        assert 0 <= exc.offset <= cut
    else:
        assert got == batch[: len(got)]  # cut exactly between frames


@given(st.lists(frames, max_size=8))
def test_iter_frames_agrees_with_decode(batch: list[Frame]) -> None:
    raw = encode_frames(batch).encode()
    walked = [
        Frame(chr(k), pid, ref, raw[s:e].decode()) for k, pid, ref, s, e in iter_frames(raw)
    ]
    assert walked == decode_frames(raw) == batch


@given(frames)
def test_fast_encoder_matches_the_checked_one(f: Frame) -> None:
    assert frame(f.kind.encode(), f.pid, f.ref, f.payload.encode()) == encode_frame(*f)
    assert len(encode_frame(*f)) == HEADER_SIZE + len(f.payload.encode())
