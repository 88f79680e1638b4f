"""A small SOQL and SOSL subset for the sandbox: what Courier's adapter sends, parsed honestly.

SOQL: SELECT fields (with parent fields like Account.Name) FROM object [WHERE ...]
[ORDER BY field [ASC|DESC]] [LIMIT n]; WHERE supports AND, OR, NOT, parentheses, =, !=, <, >,
<=, >=, LIKE, IN and NOT IN over strings, numbers, booleans and null. Text comparisons are
case-insensitive, as in Salesforce.
SOSL: FIND {text} [IN ALL|NAME|EMAIL FIELDS] RETURNING Object(fields [WHERE ...] [LIMIT n]), ...
[LIMIT n].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .salesforce_store import SalesforceError

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?(?![\w-]))"
    r"|(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)|(?P<word>[A-Za-z_][\w.:-]*))"
)


def _bad(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise _bad(f"unexpected token near: {text[pos : pos + 30]!r}")
        pos = match.end()
        if match.group("str") is not None:
            raw = match.group("str")[1:-1]
            tokens.append(("str", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("num") is not None:
            tokens.append(("num", float(match.group("num"))))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


@dataclass
class Query:
    sobject: str
    fields: list[str]
    where: Callable[[Callable[[str], Any]], bool] | None = None
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None
    # Semi-joins (`Id IN (SELECT ...)`): filled with the inner query's values before filtering.
    subqueries: list[SubQuery] = field(default_factory=list)


@dataclass
class SubQuery:
    query: Query
    values: set[Any] = field(default_factory=set)


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]):
        self.tokens, self.pos = tokens, 0
        self.subqueries: list[SubQuery] = []

    def peek(self, offset: int = 0) -> tuple[str, Any] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or token[0] != "word" or token[1].upper() != word:
                return False
        self.pos += len(words)
        return True

    def expect_op(self, op: str) -> None:
        token = self.peek()
        if token != ("op", op):
            raise _bad(f"expected {op!r}, got {token!r}")
        self.pos += 1

    def word(self) -> str:
        token = self.peek()
        if token is None or token[0] != "word":
            raise _bad(f"expected a name, got {token!r}")
        self.pos += 1
        return token[1]

    def field_list(self) -> list[str]:
        names = [self.word()]
        while self.peek() == ("op", ","):
            self.pos += 1
            names.append(self.word())
        return names

    def value(self) -> Any:
        token = self.peek()
        if token is None:
            raise _bad("expected a value")
        self.pos += 1
        kind, raw = token
        if kind in ("str", "num"):
            return raw
        if kind == "word" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if kind == "word" and raw.lower() == "null":
            return None
        raise _bad(f"unexpected value {raw!r}")

    # expr := term (OR term)* ; term := factor (AND factor)* ; factor := NOT f | (expr) | cmp
    def expr(self):
        parts = [self.term()]
        while self.keyword("OR"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda get: any(p(get) for p in parts))

    def term(self):
        parts = [self.factor()]
        while self.keyword("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda get: all(p(get) for p in parts))

    def factor(self):
        if self.keyword("NOT"):
            inner = self.factor()
            return lambda get: not inner(get)
        if self.peek() == ("op", "("):
            self.pos += 1
            inner = self.expr()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self):
        name = self.word()
        if self.keyword("NOT", "IN"):
            values = self.value_list()
            return lambda get: not any(equal(get(name), v) for v in values)
        if self.keyword("IN"):
            if self.peek() == ("op", "(") and (self.peek(1) or ("", ""))[1].upper() == "SELECT":
                sub = self.subquery()
                return lambda get: _norm(get(name)) in sub.values
            values = self.value_list()
            texts = {v.lower() for v in values if isinstance(v, str)}  # a set: IN lists are long

            def member(get) -> bool:
                value = get(name)
                if isinstance(value, str):
                    return value.lower() in texts
                return any(equal(value, v) for v in values)

            return member
        if self.keyword("LIKE"):
            pattern = like_regex(str(self.value()))
            return lambda get: get(name) is not None and bool(pattern.match(str(get(name))))
        token = self.peek()
        if token is None or token[0] != "op" or token[1] in ("(", ")", ","):
            raise _bad(f"expected an operator after {name}")
        self.pos += 1
        op, value = token[1], self.value()
        return lambda get: compare(get(name), op, value)

    def subquery(self) -> SubQuery:
        self.expect_op("(")
        self.keyword("SELECT")
        fields = self.field_list()
        if not self.keyword("FROM"):
            raise _bad("expected FROM in the inner query")
        inner = Query(sobject=self.word(), fields=fields)
        if self.keyword("WHERE"):
            inner.where = self.expr()
        self.expect_op(")")
        sub = SubQuery(inner)
        self.subqueries.append(sub)
        return sub

    def value_list(self) -> list[Any]:
        self.expect_op("(")
        values = [self.value()]
        while self.peek() == ("op", ","):
            self.pos += 1
            values.append(self.value())
        self.expect_op(")")
        return values


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return float(left) == float(right)
    return _norm(left) == _norm(right)


def compare(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return equal(left, right)
    if op in ("!=", "<>"):
        return not equal(left, right)
    if left is None or right is None:
        return False
    left, right = _norm(left), _norm(right)
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


def like_regex(pattern: str) -> re.Pattern[str]:
    parts = ["." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern]
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def parse_soql(text: str) -> Query:
    parser = _Parser(tokenize(text))
    if not parser.keyword("SELECT"):
        raise _bad("expected SELECT")
    fields = parser.field_list()
    if not parser.keyword("FROM"):
        raise _bad("expected FROM")
    query = Query(sobject=parser.word(), fields=fields)
    _tail(parser, query)
    if parser.peek() is not None:
        raise _bad(f"unexpected token {parser.peek()!r}")
    query.subqueries = parser.subqueries
    return query


def _tail(parser: _Parser, query: Query) -> None:
    if parser.keyword("WHERE"):
        query.where = parser.expr()
    if parser.keyword("ORDER", "BY"):
        while True:
            name = parser.word()
            descending = parser.keyword("DESC")
            if not descending:
                parser.keyword("ASC")
            parser.keyword("NULLS", "FIRST") or parser.keyword("NULLS", "LAST")
            query.order_by.append((name, descending))
            if parser.peek() != ("op", ","):
                break
            parser.pos += 1
    if parser.keyword("LIMIT"):
        query.limit = int(parser.value())


@dataclass
class Search:
    text: str
    scope: str  # ALL | NAME | EMAIL
    returning: list[Query]
    limit: int | None = None


_FIND = re.compile(r"^\s*FIND\s*\{((?:[^}\\]|\\.)*)\}\s*(.*)$", re.IGNORECASE | re.DOTALL)


def parse_sosl(text: str) -> Search:
    match = _FIND.match(text)
    if not match:
        raise SalesforceError(400, "MALFORMED_SEARCH", "expected FIND {search text}")
    term = re.sub(r"\\(.)", r"\1", match.group(1))
    if len(term.replace("*", "").strip()) < 2:
        raise SalesforceError(
            400, "INVALID_SEARCH", "search term must be longer than one character"
        )
    parser = _Parser(tokenize(match.group(2)))
    scope = "ALL"
    if parser.keyword("IN"):
        scope = parser.word().upper()
        if not parser.keyword("FIELDS"):
            raise SalesforceError(400, "MALFORMED_SEARCH", "expected FIELDS")
    search = Search(text=term, scope=scope, returning=[])
    if parser.keyword("RETURNING"):
        while True:
            query = Query(sobject=parser.word(), fields=["Id"])
            if parser.peek() == ("op", "("):
                parser.pos += 1
                query.fields = parser.field_list()
                _tail(parser, query)
                parser.expect_op(")")
            search.returning.append(query)
            if parser.peek() != ("op", ","):
                break
            parser.pos += 1
    if parser.keyword("LIMIT"):
        search.limit = int(parser.value())
    if parser.peek() is not None:
        raise SalesforceError(400, "MALFORMED_SEARCH", f"unexpected token {parser.peek()!r}")
    return search
