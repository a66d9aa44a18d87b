"""A strict check of a mapping's `$filter` text (F7): it must parse as an OData boolean expression over the
entity's own fields, so a broken filter is refused on write instead of failing every run.

A recursive-descent parser over a tokenizer; it builds nothing, it only answers what is wrong (or None).
It takes what Koppel's filters need: and/or/not, comparisons, parentheses, literals, property paths, the
standard string/date functions, and (Dataverse) `Microsoft.Dynamics.CRM.*` query functions. No lambdas.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["filter_problem"]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
  | (?P<datetime>\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))?\b)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),=\[\]])
""", re.VERBOSE)
_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_KEYWORDS = frozenset({"and", "or", "not", *_COMPARISONS})
_CONSTANTS = frozenset({"true", "false", "null"})
_FUNCTIONS = frozenset({"contains", "startswith", "endswith", "tolower", "toupper", "trim", "length", "indexof",
                        "substring", "concat", "year", "month", "day", "hour", "minute", "second", "date", "time",
                        "now"})
_CRM_PREFIX = "Microsoft.Dynamics.CRM."


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int


class _Invalid(Exception):
    pass


def _tokens(text: str) -> list[_Token]:
    out, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            raise _Invalid(f"unexpected {text[at]!r} at position {at + 1}")
        if m.lastgroup != "ws":
            out.append(_Token(m.lastgroup or "", m.group(), at))
        at = m.end()
    return out


class _Parser:
    def __init__(self, text: str, fields: Collection[str] | None, crm: bool):
        self.tokens, self.i, self.fields, self.crm = _tokens(text), 0, fields, crm

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def word(self) -> str | None:
        t = self.peek()
        return t.text if t is not None and t.kind == "name" else None

    def take(self, text: str) -> bool:
        t = self.peek()
        if t is not None and t.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            raise self.unexpected(f"expected {text!r}")

    def unexpected(self, want: str) -> _Invalid:
        t = self.peek()
        return _Invalid(f"{want} but the filter ends" if t is None else f"{want}, not {t.text!r} at position {t.at + 1}")

    def parse(self) -> None:
        if not self.tokens:
            raise _Invalid("the filter is empty")
        self.boolean()
        if self.peek() is not None:
            raise self.unexpected("expected and, or or the end")

    def boolean(self) -> None:
        self.conjunction()
        while self.take("or"):
            self.conjunction()

    def conjunction(self) -> None:
        self.negation()
        while self.take("and"):
            self.negation()

    def negation(self) -> None:
        if self.take("not"):
            self.negation()
            return
        start = self.peek()
        kind = self.value()
        if self.word() in _COMPARISONS:
            self.i += 1
            self.value()
        elif kind == "literal" and not (start is not None and start.text in ("true", "false")):
            raise _Invalid(f"{start.text if start else ''!r} at position {start.at + 1 if start else 0} is not a "
                           "condition: compare it with eq, ne, gt, ge, lt or le")

    def value(self) -> str:
        """One operand; answers "literal", "path", "call" or "group"."""
        t = self.peek()
        if t is None:
            raise self.unexpected("expected a value")
        if t.text == "(":
            self.i += 1
            self.boolean()
            self.expect(")")
            return "group"
        if t.kind in ("string", "guid", "datetime", "number") or t.text in _CONSTANTS:
            self.i += 1
            return "literal"
        if t.kind != "name" or t.text in _KEYWORDS:
            raise self.unexpected("expected a field, a value or a function")
        self.i += 1
        if self.take("("):
            self.call(t)
            return "call"
        self.property(t)
        return "path"

    def property(self, t: _Token) -> None:
        first = t.text.split("/", 1)[0]
        if "." in t.text:
            raise _Invalid(f"{t.text!r} at position {t.at + 1} is not a field")
        if self.fields is not None and first not in self.fields:
            raise _Invalid(f"{first!r} at position {t.at + 1} is not a field of this entity")

    def call(self, t: _Token) -> None:
        name = t.text
        if name.startswith(_CRM_PREFIX) and self.crm:
            self.arguments(named=True)
            return
        if name not in _FUNCTIONS:
            raise _Invalid(f"{name!r} at position {t.at + 1} is not a function this filter may call")
        self.arguments(named=False)

    def arguments(self, *, named: bool) -> None:
        if self.take(")"):
            return
        while True:
            if named:
                word = self.word()
                if word is None or word in _KEYWORDS:
                    raise self.unexpected("expected Name=value")
                self.i += 1
                self.expect("=")
                if self.take("["):
                    self.value()
                    while self.take(","):
                        self.value()
                    self.expect("]")
                else:
                    self.value()
            else:
                self.value()
            if self.take(")"):
                return
            self.expect(",")


def filter_problem(text: str, fields: Collection[str] | None, *, crm: bool) -> str | None:
    """What is wrong with a $filter, in words (with the position), or None when it is a valid condition over
    `fields` (None: any field). `crm` allows Dataverse's `Microsoft.Dynamics.CRM.*` query functions."""
    try:
        _Parser(text, fields, crm).parse()
    except _Invalid as err:
        return str(err)
    except RecursionError:
        return "the filter is nested too deeply"
    return None
