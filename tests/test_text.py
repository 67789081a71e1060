"""Guest text is made inert before any log line or audit record."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hostkit._text import inert


def test_ansi_newlines_and_bidi_are_escaped() -> None:
    forged = "ok\n2026-01-01 CRITICAL hostkit: audit log tampered\x1b[2J\u202ehidden\r"
    out = inert(forged)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out and "\u202e" not in out
    assert out == (
        "ok\\n2026-01-01 CRITICAL hostkit: audit log tampered\\x1b[2J\\u202ehidden\\r"
    )


def test_cut_names_how_much_was_dropped() -> None:
    assert inert("a" * 10, 4) == "aaaa... [6 more characters]"
    assert inert("a" * 10, None) == "a" * 10


@given(st.text())
def test_output_is_one_printable_line(text: str) -> None:
    out = inert(text, None)
    assert all(0x20 <= ord(ch) < 0x7F for ch in out if ord(ch) < 0xA0), out
    for bad in ("\n", "\r", "\x1b", "\x9b", "\u2028", "\u202e", "\u2066"):
        assert bad not in out
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in out)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf"))))
def test_plain_text_is_unchanged_except_backslash(text: str) -> None:
    assert inert(text, None) == text.replace("\\", "\\\\")
