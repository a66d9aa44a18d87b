"""Recursive-descent compiler from $filter text to nested closures, with the BC and Dataverse dialect rules.

Precedence, loosest first: `or`, `and`, comparisons, `not`, primaries. The text is parsed once; the
returned closures do no parsing per record.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from emulators.odata_query._compare import SWAPPED, Predicate, compare_to_literal, compare_values, incompatible
from emulators.odata_query._functions import (
    CRM_PREFIX, STRING_FUNCTIONS, call_crm_function, call_string_function, unknown_function,
)
from emulators.odata_query._syntax import (
    Literal, Node, QueryError, Token, TokenKind, expected_error, make_getter, syntax_error, tokenize,
)

__all__ = ["compile_filter", "DIALECTS"]

DIALECTS = ("bc", "dataverse")
_COMPARISONS = frozenset(SWAPPED)
_EDM_BOOLEAN = "Edm.Boolean"
# api-facts §B.4: BC translates `or` into one field's filter, so it refuses `or` across fields.
_BC_OR_ERROR = "The 'OR' operator is not supported on distinct fields."


def compile_filter(text: str, dialect: str, now: datetime) -> Node:
    """Compile a whole $filter; `now` anchors relative functions (LastXDays)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown OData dialect {dialect!r}; expected one of {DIALECTS}")
    return _Parser(text, dialect, now).parse()


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) or b(r)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) and b(r)


def _require_boolean(op: str, left: Node, right: Node) -> None:
    """`a eq 1 and 5` is a type error; properties pass, since their type is only known per record."""
    for node in (left, right):
        if node.literal is not None and node.literal.edm not in (_EDM_BOOLEAN, "null"):
            raise incompatible(_EDM_BOOLEAN, node.literal.edm, op)


class _Parser:
    def __init__(self, text: str, dialect: str, now: datetime) -> None:
        self.text = text
        self.dialect = dialect
        self.now = now
        self.fold_case = dialect == "dataverse"  # api-facts §A.3: Dataverse string comparison ignores case
        self.tokens = tokenize(text)
        self.index = 0
        self.range_variables: list[str] = []

    # -- token helpers ---------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind is TokenKind.IDENT and token.text in words

    def at_punct(self, char: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind is TokenKind.PUNCT and token.text == char

    def expect_punct(self, char: str, what: str) -> None:
        if not self.at_punct(char):
            raise expected_error(what, self.text, self.peek().pos)
        self.advance()

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.peek().kind is TokenKind.END:
            return Node(lambda r: True, True, frozenset())  # no filter: everything matches
        node = self.parse_or()
        if self.peek().kind is not TokenKind.END:
            raise syntax_error(self.text, self.peek().pos)
        if node.literal is not None and node.literal.edm not in (_EDM_BOOLEAN, "null"):
            raise QueryError("The $filter expression must evaluate to a single boolean value.")
        return node

    def parse_or(self) -> Node:
        left = self.parse_and()
        while self.at_word("or"):
            self.advance()
            right = self.parse_and()
            _require_boolean("or", left, right)
            fields = left.fields | right.fields
            if self.dialect == "bc" and len(fields) > 1:
                raise QueryError(_BC_OR_ERROR)
            left = Node(_either(left.as_predicate(), right.as_predicate()), True, fields)
        return left

    def parse_and(self) -> Node:
        left = self.parse_comparison()
        while self.at_word("and"):
            self.advance()
            right = self.parse_comparison()
            _require_boolean("and", left, right)
            left = Node(_both(left.as_predicate(), right.as_predicate()), True, left.fields | right.fields)
        return left

    def parse_comparison(self) -> Node:
        left = self.parse_unary()
        if not self.at_word(*_COMPARISONS):
            return left
        op = self.advance().text
        right = self.parse_unary()
        return Node(self._comparison(op, left, right), True, left.fields | right.fields)

    def _comparison(self, op: str, left: Node, right: Node) -> Any:
        for this, that in ((left, right), (right, left)):
            if this.is_bool and that.literal is not None and that.literal.edm not in (_EDM_BOOLEAN, "null"):
                raise incompatible(_EDM_BOOLEAN, that.literal.edm, op)
        if left.literal is not None and right.literal is None:
            left, right, op = right, left, SWAPPED[op]
        if right.literal is not None:
            return compare_to_literal(op, left.fn, right.literal, fold_case=self.fold_case)
        get_left, get_right, fold = left.fn, right.fn, self.fold_case
        return lambda r: compare_values(op, get_left(r), get_right(r), fold_case=fold)

    def parse_unary(self) -> Node:
        if not self.at_word("not"):
            return self.parse_primary()
        self.advance()
        operand = self.parse_unary()
        if operand.is_bool:
            test = operand.fn
            return Node(lambda r: not test(r), True, operand.fields)
        if operand.literal is not None and operand.literal.edm not in (_EDM_BOOLEAN, "null"):
            raise QueryError(f"The 'not' operator requires a boolean operand, found '{operand.literal.edm}'.")
        get = operand.fn  # a boolean property: `not blocked` holds when it is false (null stays unknown)
        return Node(lambda r: get(r) is False, True, operand.fields)

    def parse_primary(self) -> Node:
        token = self.peek()
        if token.kind is TokenKind.END:
            raise expected_error("Expression", self.text, token.pos)
        if self.at_punct("("):
            self.advance()
            node = self.parse_or()
            self.expect_punct(")", "')' or operator")
            return node
        if token.literal is not None:
            self.advance()
            return self._literal_node(token.literal)
        if token.kind is TokenKind.IDENT:
            if self.at_punct("(", 1):
                return self.parse_call()
            return self.parse_path()
        raise syntax_error(self.text, token.pos)

    @staticmethod
    def _literal_node(literal: Literal) -> Node:
        value = literal.value
        return Node(lambda r: value, literal.edm == _EDM_BOOLEAN, frozenset(), literal)

    def parse_path(self) -> Node:
        segments = [self.advance().text]
        while self.at_punct("/"):
            self.advance()
            token = self.peek()
            if token.kind is not TokenKind.IDENT:
                raise syntax_error(self.text, token.pos)
            if token.text in ("any", "all") and self.at_punct("(", 1):
                return self.parse_lambda(tuple(segments))
            segments.append(self.advance().text)
        if segments[0] in self.range_variables:
            # Inside a lambda body the item is the record; its paths are not the entity's fields.
            return Node(make_getter(tuple(segments[1:]), in_lambda=True), False, frozenset())
        return Node(make_getter(tuple(segments), in_lambda=bool(self.range_variables)), False,
                    frozenset({segments[0]}))

    def parse_lambda(self, collection: tuple[str, ...]) -> Node:
        kind = self.advance().text
        self.advance()  # "("
        body: Node | None = None
        if not self.at_punct(")"):
            variable = self.peek()
            if variable.kind is not TokenKind.IDENT or not self.at_punct(":", 1):
                raise syntax_error(self.text, variable.pos)
            self.index += 2
            self.range_variables.append(variable.text)
            body = self.parse_or()
            self.range_variables.pop()
        self.expect_punct(")", "')' or operator")
        if self.dialect == "bc":
            # api-facts §B.4: BC silently drops lambda filters, so they match every record.
            return Node(lambda r: True, True, frozenset())
        get = make_getter(collection)
        if body is None:
            if kind == "all":
                raise syntax_error(self.text, self.peek().pos)
            return Node(lambda r: bool(get(r)), True, frozenset({collection[0]}))
        test = body.as_predicate()
        if kind == "any":
            fn = lambda r: isinstance(items := get(r), list) and any(test(item) for item in items)  # noqa: E731
        else:
            fn = lambda r: not isinstance(items := get(r), list) or all(test(item) for item in items)  # noqa: E731
        return Node(fn, True, frozenset({collection[0]}) | body.fields)

    def parse_call(self) -> Node:
        name_token = self.advance()
        name = name_token.text
        self.advance()  # "("
        if name.startswith(CRM_PREFIX):
            if self.dialect != "dataverse":
                raise unknown_function(name)
            return call_crm_function(name, self.parse_named_arguments(), now=self.now)
        if name not in STRING_FUNCTIONS[self.dialect]:
            raise unknown_function(name)
        args: list[Node] = []
        if not self.at_punct(")"):
            args.append(self.parse_or())
            while self.at_punct(","):
                self.advance()
                args.append(self.parse_or())
        self.expect_punct(")", "')' or ','")
        return call_string_function(name, args, fold_case=self.fold_case)

    def parse_named_arguments(self) -> dict[str, Any]:
        """`PropertyName='f',PropertyValues=['a','b']`: the CRM functions' named-parameter syntax."""
        params: dict[str, Any] = {}
        while not self.at_punct(")"):
            if params:
                self.expect_punct(",", "')' or ','")
            name = self.advance()
            if name.kind is not TokenKind.IDENT or name.literal is not None:
                raise syntax_error(self.text, name.pos)
            self.expect_punct("=", "'='")
            params[name.text] = self.parse_parameter_value()
        self.advance()  # ")"
        return params

    def parse_parameter_value(self) -> Any:
        if self.at_punct("["):
            self.advance()
            values: list[Any] = []
            while not self.at_punct("]"):
                if values:
                    self.expect_punct(",", "']' or ','")
                values.append(self.parse_parameter_value())
            self.advance()  # "]"
            return values
        token = self.advance()
        if token.literal is None:
            raise syntax_error(self.text, token.pos)
        return token.literal.value
