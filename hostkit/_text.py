"""Guest text made inert before it reaches a log line or an audit record.

Guest-chosen strings (log messages, stdout lines, stop reasons, names) end up
in places an operator reads: a terminal, a log aggregator, an audit file. A
guest must not be able to end a line early, forge the next one, move the
cursor, clear the screen or reorder what is displayed. So every character
that is not plain printable text is replaced by a visible escape:

* C0 controls (below U+0020), DEL and the C1 range (U+0080-U+009F) — this
  covers newlines, carriage returns, tabs and every ANSI escape sequence
  (they all start with ESC, U+001B, or CSI, U+009B);
* Unicode bidirectional overrides and isolates (U+202A-U+202E,
  U+2066-U+2069) and the line/paragraph separators (U+2028, U+2029), which
  reorder or break what a terminal shows;
* the backslash itself, so an escape in the output is never ambiguous.

The result is then cut to a maximum length, with a marker that says how much
was dropped. Pure and stdlib-only: the host, the providers and the audit log
share it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_MAX_CHARS", "inert"]

DEFAULT_MAX_CHARS: Final = 4096
"""Default cut for one guest-chosen string (after escaping)."""

_ESCAPES: Final[dict[int, str]] = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_ESCAPES[ord("\n")] = "\\n"
_ESCAPES[ord("\r")] = "\\r"
_ESCAPES[ord("\t")] = "\\t"
_ESCAPES[ord("\\")] = "\\\\"


def inert(text: str, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """Return ``text`` with every control, bidi and separator character
    escaped, cut to ``max_chars`` characters (``None``: no cut).

    The cut is applied after escaping, so the result is at most
    ``max_chars`` plus the length of the marker
    (``"... [N more characters]"``). Lone surrogates (from
    ``errors="surrogateescape"`` decoding) are escaped as ``\\udcXX``.
    """
    out = text.translate(_ESCAPES)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in out):
        out = "".join(f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in out)
    if max_chars is not None and len(out) > max_chars:
        dropped = len(out) - max_chars
        out = f"{out[:max_chars]}... [{dropped} more characters]"
    return out
