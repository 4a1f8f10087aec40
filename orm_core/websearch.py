"""Search text parsed the way PostgreSQL's `websearch_to_tsquery` reads it, in plain Python.

Words are AND-ed; `"quoted words"` form a phrase (an unclosed quote runs to the end);
`or` between two terms makes alternatives; `-word` and `-"a phrase"` exclude. Any
other character is just text, so no input raises. A query can match only when each
alternative holds a term that is not excluded (`-cat` alone, or `dog or -cat`,
would match rows by what they lack: such a query matches nothing).

Tokens are runs of letters, digits, marks and private-use characters, as SQLite's
`unicode61` tokenizer splits text; the backends tokenize, stem and drop stop words
again in their own way. Text past `MAX_TEXT_LENGTH` characters and terms past
`MAX_TERMS` are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

MAX_TEXT_LENGTH = 1000
MAX_TERMS = 32
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Term:
    """One word or quoted phrase: its tokens in order, and whether it excludes rows."""

    tokens: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Parsed search text: alternatives (`or`), each a conjunction of terms."""

    text: str
    branches: tuple[tuple[Term, ...], ...]

    @property
    def searchable(self) -> bool:
        """Whether the query can match a row: every alternative needs a term it looks for."""
        return bool(self.branches) and all(
            any(not term.negated for term in branch) for branch in self.branches
        )

    @property
    def wanted(self) -> tuple[str, ...]:
        """The tokens of the terms that are not excluded, lowercased, without repeats."""
        found = (t.lower() for b in self.branches for term in b if not term.negated
                 for t in term.tokens)  # fmt: skip
        return tuple(dict.fromkeys(found))


def clean_text(text: str) -> str:
    """Return `text` cut to `MAX_TEXT_LENGTH`, without NUL characters or lone surrogates.

    Neither can be sent to PostgreSQL as text; they separate words like spaces do.
    """
    cut = text[:MAX_TEXT_LENGTH].replace("\x00", " ")
    return cut.encode("utf-8", "replace").decode("utf-8", "replace")


def parse_search(text: str) -> SearchQuery:
    """Parse user search text; never raises on any string."""
    cleaned = clean_text(text)
    branches: list[list[Term]] = [[]]
    alternative = False
    count = 0
    for word, phrase, negated in _pieces(cleaned):
        if not phrase and not negated and word.casefold() == "or":
            alternative = bool(branches[-1])
            continue
        tokens = tokens_of(word)
        if not tokens or count == MAX_TERMS:
            continue
        if alternative:
            branches.append([])
            alternative = False
        branches[-1].append(Term(tokens, negated))
        count += 1
    found = tuple(tuple(branch) for branch in branches if branch)
    return SearchQuery(cleaned, found)


def _pieces(text: str) -> Iterator[tuple[str, bool, bool]]:
    """Yield `(text, is_phrase, negated)` for each word or quoted phrase."""
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if _SPACE.match(char):
            i += 1
            continue
        negated = False
        while i < end and text[i] == "-":
            negated = True
            i += 1
        if i == end or _SPACE.match(text[i]):
            continue  # a lone "-" excludes nothing
        if text[i] == '"':
            close = text.find('"', i + 1)
            close = end if close < 0 else close
            yield text[i + 1 : close], True, negated
            i = close + 1
            continue
        start = i
        while i < end and text[i] != '"' and not _SPACE.match(text[i]):
            i += 1
        yield text[start:i], False, negated


def tokens_of(text: str) -> tuple[str, ...]:
    """Split text into tokens: runs of letters, digits, marks and private-use characters."""
    tokens: list[str] = []
    current: list[str] = []
    for char in text:
        if _is_token_char(char):
            current.append(char)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tuple(tokens)


@lru_cache(maxsize=4096)
def _is_token_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LNM" or category == "Co"


def mark_matches(value: str, wanted: tuple[str, ...], start: str, stop: str,
                 words: int | None) -> str:  # fmt: skip
    """Wrap each occurrence of a wanted token in `start`/`stop`, matching case-insensitively.

    With `words`, only an excerpt of that many words around the first match is kept.
    Used where the database has no highlighting of its own.
    """
    if words is not None:
        value = _excerpt(value, wanted, words)
    if not wanted or not value:
        return value
    pattern = "|".join(re.escape(t) for t in sorted(wanted, key=len, reverse=True))
    return re.sub(f"({pattern})", lambda m: f"{start}{m.group(0)}{stop}", value, flags=re.I)


def _excerpt(value: str, wanted: tuple[str, ...], words: int) -> str:
    split = value.split()
    if len(split) <= words:
        return value
    first = next((i for i, w in enumerate(split) if any(t in w.lower() for t in wanted)), 0)
    begin = max(0, min(first - words // 3, len(split) - words))
    return " ".join(split[begin : begin + words])
