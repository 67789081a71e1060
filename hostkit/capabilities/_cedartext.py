"""Cedar source text: splitting policy files, naming positions, escaping.

Theory of operation
-------------------

cedarpy reports what is wrong with a policy or schema (``unexpected token
`lke```) but not where. Operators need ``file:line:column``, so this module
recovers positions itself, without a second Cedar grammar:

1. A small lexer knows just enough of Cedar's lexical structure (strings with
   escapes, ``//`` comments, identifiers, numbers, the two-character
   operators, ``::``, ``?slot`` and ``@annotation``) to split a file into its
   policy statements at top-level ``;`` and to cut text at token boundaries.
2. A syntax error is pinned by bisection: cedarpy is asked to parse growing
   prefixes of the statement, cut at token boundaries. A prefix that only
   lacks its end fails with "unexpected end of input"; the shortest prefix
   that fails with a real syntax error ends at the offending token. Cedar
   parses left to right, so that property is monotone in the prefix length.
3. Any other message (a type error, an unknown function, an unresolved
   schema type) is pinned by finding the text it quotes in backticks inside
   the statement; failing that, the statement's own start is the position.

Everything here runs on the error path or at load time, never per decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>//[^\n]*)
    | (?P<string>"(?:[^"\\]|\\.)*(?:"|\Z))
    | (?P<word>[@?]?[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>[0-9]+)
    | (?P<op>::|==|!=|<=|>=|&&|\|\|)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_SYNTAX_ERROR_RE = re.compile(r"unexpected token|invalid token|unexpected end of input")
_EOF_MESSAGE = "unexpected end of input"
_BACKTICKED_RE = re.compile(r"`([^`]+)`")
_POLICY_PREFIX_RE = re.compile(r"^for policy `[^`]*`, ")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: its kind (a group name of `_TOKEN_RE`) and span."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Statement:
    """One policy statement inside a larger text, ``;`` included."""

    start: int
    end: int
    text: str


def tokenize(text: str) -> list[Token]:
    """Split Cedar text into tokens, dropping whitespace but keeping comments."""
    tokens = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(Token(kind, match.start(), match.end()))
    return tokens


def split_statements(text: str) -> list[Statement]:
    """Split a policy file into its statements at top-level semicolons.

    Comments between statements are not part of any statement; a trailing
    statement without ``;`` is returned as is (parsing it then reports the
    missing end). Strings and comments may contain ``;``.
    """
    statements: list[Statement] = []
    start: int | None = None
    end = 0
    for token in tokenize(text):
        if token.kind == "comment":
            continue
        if start is None:
            start = token.start
        end = token.end
        if token.kind == "other" and text[token.start] == ";":
            statements.append(Statement(start, end, text[start:end]))
            start = None
    if start is not None:
        statements.append(Statement(start, end, text[start:end]))
    return statements


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def clean_message(message: str) -> str:
    """Drop cedarpy's redundant prefixes ("for policy `policy3`, ", ...)."""
    message = _POLICY_PREFIX_RE.sub("", message)
    return message.removeprefix("error parsing schema: ")


def locate_error(
    text: str,
    message: str,
    parse: Callable[[str], object] | None,
    *,
    search_from: int = 0,
) -> int:
    """Best offset in ``text`` for the error ``message`` Cedar reported.

    Args:
        text: the statement (or schema) that failed.
        message: cedarpy's message for it.
        parse: re-parses a prefix of ``text``, raising ``ValueError`` with
            cedarpy's message; ``None`` for errors found after parsing (policy
            validation), which are only pinned by what they quote.
        search_from: where quoted text is looked for first (e.g. the start of
            a schema fragment being added to an already valid schema).

    Returns:
        An offset into ``text``: the offending token when it can be found,
        else ``search_from``.
    """
    message = clean_message(message)
    tokens = [t for t in tokenize(text) if t.kind != "comment"]
    if parse is not None and tokens and _SYNTAX_ERROR_RE.search(message):
        if message.startswith(_EOF_MESSAGE):
            return tokens[-1].end
        found = _invalid_token(text, tokens) if message.startswith("invalid token") else None
        if found is None:
            found = _bisect_syntax_error(text, tokens, parse)
        if found is not None:
            return found
    for snippet in _snippets(message):
        found = _find_snippet(text, snippet, search_from)
        if found is not None:
            return found
    return search_from


_VALID_SINGLE_CHARS = frozenset("()[]{},;.+-*<>!:")


def _invalid_token(text: str, tokens: Sequence[Token]) -> int | None:
    """Where Cedar's lexer gave up: a character it has no token for, or an
    unterminated string. Cedar reports lexer errors ahead of parser errors,
    so bisection (which looks for the first parser error) cannot find these.
    """
    strings = [t for t in tokens if t.kind == "string"]
    if strings and (strings[-1].end - strings[-1].start < 2 or text[strings[-1].end - 1] != '"'):
        # A missing closing quote pairs every later quote wrongly (so the
        # text between strings may hold anything); the first string that
        # spans lines is where the quote was most likely lost.
        multiline = [t for t in strings if "\n" in text[t.start : t.end]]
        return (multiline or strings[-1:])[0].start
    for token in tokens:
        if token.kind == "other" and text[token.start] not in _VALID_SINGLE_CHARS:
            return token.start
    return None


def _bisect_syntax_error(
    text: str, tokens: Sequence[Token], parse: Callable[[str], object]
) -> int | None:
    def broken(count: int) -> bool:
        try:
            parse(text[: tokens[count - 1].end])
        except ValueError as exc:
            msg = clean_message(str(exc))
            return bool(_SYNTAX_ERROR_RE.search(msg)) and not msg.startswith(_EOF_MESSAGE)
        return False

    low, high = 1, len(tokens)
    if not broken(high):
        return None
    while low < high:
        mid = (low + high) // 2
        if broken(mid):
            high = mid
        else:
            low = mid + 1
    return tokens[low - 1].start


def _snippets(message: str) -> list[str]:
    snippets = _BACKTICKED_RE.findall(message)
    # "invalid policy effect: permitt", "failed to resolve types: Nope, Nope"
    _, sep, tail = message.rpartition(": ")
    if sep and "`" not in tail:
        parts = (part.strip() for part in tail.split(","))
        snippets.extend(part for part in parts if part and " " not in part)
    return snippets


def _find_snippet(text: str, snippet: str, search_from: int) -> int | None:
    boundary_left = r"(?<![A-Za-z0-9_])" if snippet[:1].isalnum() or snippet[:1] == "_" else ""
    boundary_right = r"(?![A-Za-z0-9_])" if snippet[-1:].isalnum() or snippet[-1:] == "_" else ""
    pattern = re.compile(boundary_left + re.escape(snippet) + boundary_right)
    comments = [t for t in tokenize(text) if t.kind == "comment"]
    for start in (search_from, 0):
        for match in pattern.finditer(text, start):
            if not any(c.start <= match.start() < c.end for c in comments):
                return match.start()
    return None


_CEDAR_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def cedar_string(value: str) -> str:
    """``value`` as a Cedar string literal, quotes included.

    Cedar's escapes differ from JSON's (``\\u{1F600}``, not ``\\uD83D...``),
    so ``json.dumps`` is not a substitute.
    """
    out = []
    for char in value:
        if char in _CEDAR_ESCAPES:
            out.append(_CEDAR_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def cedar_pattern(glob: str) -> str:
    """A glob with ``*`` wildcards as the string literal of a Cedar ``like``.

    ``*`` (and ``**``, which Cedar treats the same) is the wildcard; ``\\*``
    is a literal star. Every other character stands for itself.
    """
    parts = re.split(r"(\\\*|\*+)", glob)
    out = []
    for part in parts:
        if part == "\\*":
            out.append("\\*")
        elif part.startswith("*"):
            out.append("*")
        else:
            out.append(cedar_string(part)[1:-1])
    return '"' + "".join(out) + '"'
