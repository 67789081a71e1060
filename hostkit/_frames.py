"""The frame codec, as the host imports it. The code lives in
``hostkit/guest/_frames.py`` because that file is bundled into every Python
guest: one codec for both ends. Pure standard library."""

from .guest._frames import HEADER_SIZE as HEADER_SIZE
from .guest._frames import MAX_ID as MAX_ID
from .guest._frames import MAX_PAYLOAD as MAX_PAYLOAD
from .guest._frames import Frame as Frame
from .guest._frames import FrameError as FrameError
from .guest._frames import decode_frames as decode_frames
from .guest._frames import encode_frame as encode_frame
from .guest._frames import encode_frames as encode_frames
from .guest._frames import frame as frame
from .guest._frames import iter_frames as iter_frames

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
