"""Route templates: ASP.NET syntax, constraints as regexes, precedence."""
from __future__ import annotations

import pytest

from devhost.routes import compile_route


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items", "items", {}),
        ("items", "ITEMS", {}),
        ("items", "items/1", None),
        ("items/{id}", "items/42", {"id": "42"}),
        ("items/{id}", "items", None),
        ("items/{id}", "items/a%20b", {"id": "a b"}),
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/-3", {"id": "-3"}),
        ("items/{id:int}", "items/x", None),
        ("items/{id:guid}", "items/6f9619ff-8b86-d011-b42d-00cf4fc964ff", {"id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff"}),
        ("items/{id:guid}", "items/42", None),
        ("items/{id:alpha}", "items/abc", {"id": "abc"}),
        ("items/{id:alpha}", "items/ab1", None),
        ("items/{flag:bool}", "items/True", {"flag": "True"}),
        ("items/{n:min(10)}", "items/9", None),
        ("items/{n:range(1,5)}", "items/5", {"n": "5"}),
        ("items/{n:range(1,5)}", "items/6", None),
        ("items/{code:length(3)}", "items/abc", {"code": "abc"}),
        ("items/{code:length(3)}", "items/abcd", None),
        ("items/{code:regex(^[a-z]{{2}}\\d$)}", "items/ab1", {"code": "ab1"}),
        ("items/{code:regex(^[a-z]{{2}}\\d$)}", "items/abc1", None),
        ("at/{t:regex(^\\d\\d:\\d\\d$)}", "at/12:30", {"t": "12:30"}),
        ("at/{n:int:min(3)}", "at/2", None),
        ("items/{code:maxlength(2)}", "items/abc", None),
        ("items/{id?}", "items", {}),
        ("items/{id?}", "items/7", {"id": "7"}),
        ("items/{id=5}", "items", {"id": "5"}),
        ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("files/{*rest}", "files", {}),
        ("accounts({id})/contacts", "accounts(7)/contacts", {"id": "7"}),
        ("mappings/{name}/runs/{run:int}", "mappings/customers/runs/3", {"name": "customers", "run": "3"}),
        ("{*all}", "anything/at/all", {"all": "anything/at/all"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_template_matches(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_route(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    ["items/{id:nosuch}", "{*rest}/tail", "a/{x}/{x}", "a/{bad-name}"],
    ids=["unknown-constraint", "catch-all-not-last", "repeated-param", "bad-name"],
)
def test_bad_template_is_refused(template: str) -> None:
    with pytest.raises(ValueError):
        compile_route(template)


def test_precedence_literal_then_constrained_then_free_then_catch_all() -> None:
    templates = ["items/{*rest}", "items/{name}", "items/{id:int}", "items/new", "items/{id?}"]
    ordered = sorted((compile_route(t) for t in templates), key=lambda r: r.precedence)
    assert [r.template for r in ordered] == [
        "items/new", "items/{id:int}", "items/{name}", "items/{id?}", "items/{*rest}"]
