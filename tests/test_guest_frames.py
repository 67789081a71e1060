"""The guest SDK's frame codec, on plain CPython: round trips (non-ASCII
included), agreement with the host's encoder, and refusal of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostkit._frames import frame as host_frame
from hostkit.guest._frames import (
    HEADER_SIZE,
    MAX_ID,
    Frame,
    FrameError,
    decode_frames,
    encode_frame,
    encode_frames,
)

kinds = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
ids = st.integers(min_value=0, max_value=MAX_ID)
# Any text that UTF-8 can carry (no lone surrogates), weighted to multi-byte.
payloads = st.text(st.characters(exclude_categories=["Cs"]), max_size=200) | st.sampled_from(
    ["", "héllo", "✓ 🎉 日本語", "\x00\n\r", "\U0001d518\U0001d52b" * 50]
)
frames = st.builds(Frame, kinds, ids, ids, payloads)


@given(st.lists(frames, max_size=20))
def test_batches_round_trip(batch: list[Frame]) -> None:
    assert decode_frames(encode_frames(batch)) == batch


@given(st.lists(frames, max_size=20))
def test_decoding_bytes_and_str_agree(batch: list[Frame]) -> None:
    text = encode_frames(batch)
    assert decode_frames(text.encode()) == decode_frames(text)


@given(frames)
def test_guest_encoder_matches_the_host_encoder(f: Frame) -> None:
    guest = encode_frame(*f)
    host = host_frame(f.kind.encode(), f.pid, f.ref, f.payload.encode())
    assert guest == host
    assert decode_frames(host) == [f]


@given(payloads)
def test_length_field_counts_utf8_bytes(payload: str) -> None:
    raw = encode_frame("c", 1, 0, payload)
    assert int(raw[33:41], 16) == len(payload.encode()) == len(raw) - HEADER_SIZE


def test_non_ascii_payloads_do_not_shift_later_frames() -> None:
    batch = [Frame("c", 1, 0, "ü" * 3), Frame("q", 2, 7, "🎉"), Frame("c", 3, 0, "plain")]
    text = encode_frames(batch)
    assert len(text) < len(text.encode())  # character and byte offsets differ
    assert decode_frames(text) == batch


def test_header_layout_is_exactly_as_documented() -> None:
    assert encode_frame("r", 0x2A, 0xBEEF, "ok") == (
        b"r" + b"%016x" % 0x2A + b"%016x" % 0xBEEF + b"00000002" + b"ok"
    )


@pytest.mark.parametrize(
    ("batch", "why"),
    [
        (b"c" + b"0" * 30, "truncated"),
        (b"c" + b"0" * 32 + b"0000000a" + b"short", "declares 10 payload bytes"),
        (b"1" + b"0" * 40, "malformed"),
        (b"c" + b"0" * 15 + b"A" + b"0" * 24, "malformed"),  # uppercase hex
        (b"c" + b"0" * 15 + b"+" + b"0" * 24, "malformed"),  # int() would take it
        (b"c" + b"0" * 32 + b"00000002" + b"\xc3\x28", "not UTF-8"),
        (b"c" + b"0" * 32 + b"00000001" + "é".encode(), "not UTF-8"),  # split character
    ],
)
def test_malformed_batches_are_refused_with_the_offset(batch: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        decode_frames(batch)


def test_a_bad_second_frame_names_its_offset() -> None:
    good = encode_frame("c", 1, 0, "x")
    with pytest.raises(FrameError, match=f"at byte {len(good)}"):
        decode_frames(good + b"zz")


@pytest.mark.parametrize(
    ("kind", "pid", "ref", "why"),
    [
        ("", 0, 0, "one ASCII letter"),
        ("cc", 0, 0, "one ASCII letter"),
        ("1", 0, 0, "one ASCII letter"),
        ("é", 0, 0, "one ASCII letter"),
        ("c", -1, 0, "pid"),
        ("c", 2**64, 0, "pid"),
        ("c", 0, 2**64, "ref"),
    ],
)
def test_unencodable_frames_are_refused(kind: str, pid: int, ref: int, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        encode_frame(kind, pid, ref, "")


def test_empty_batch_is_no_frames() -> None:
    assert decode_frames("") == []
    assert encode_frames([]) == ""
