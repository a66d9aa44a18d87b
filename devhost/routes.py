"""ASP.NET route templates as the Functions host reads them (`items/{id:int}`, `{id?}`, `{*rest}`).

Constraints are enforced as simple regexes plus a range check for `min`/`max`/`range`; literals
and values match case-insensitively, as ASP.NET routing does. Route order follows ASP.NET
precedence: literal segments before parameters, constrained before free, catch-all last.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["RouteTemplate", "compile_route"]

_INT = r"-?\d+"
_NUM = r"-?\d+(?:\.\d+)?"
_SIMPLE_CONSTRAINTS = {
    "int": _INT, "long": _INT,
    "decimal": _NUM, "double": _NUM, "float": _NUM,
    "bool": r"true|false",
    "guid": r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|\{[0-9a-f-]{36}\}",
    "alpha": r"[a-z]+",
    "datetime": r"[^/]+",
}
_ARG_CONSTRAINT = re.compile(r"(\w+)\((.*)\)$")

Check = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    checks: tuple[Check, ...]  # every constraint, checked on the decoded value
    optional: bool
    catch_all: bool
    default: str | None

    @property
    def pattern(self) -> str:
        return ".*" if self.catch_all else "[^/]+?"


def _regex_check(pattern: str) -> Check:
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda v: compiled.fullmatch(v) is not None


def _constraint(text: str) -> Check:
    """The check for one `:constraint`."""
    if text in _SIMPLE_CONSTRAINTS:
        return _regex_check(_SIMPLE_CONSTRAINTS[text])
    m = _ARG_CONSTRAINT.match(text)
    if not m:
        raise ValueError(f"unsupported route constraint {text!r}")
    kind, arg = m.group(1), m.group(2)
    if kind == "regex":
        return _regex_check(arg)
    if kind in ("length", "minlength", "maxlength"):
        bounds = {"length": f"{{{arg}}}", "minlength": f"{{{arg},}}", "maxlength": f"{{0,{arg}}}"}[kind]
        return _regex_check(f"[^/]{bounds}")
    if kind in ("min", "max", "range"):
        numbers = [int(x) for x in arg.split(",")]
        low = numbers[0] if kind in ("min", "range") else None
        high = numbers[-1] if kind in ("max", "range") else None
        is_int = _regex_check(_INT)
        return lambda v: is_int(v) and (low is None or int(v) >= low) and (high is None or int(v) <= high)
    raise ValueError(f"unsupported route constraint {text!r}")


def _split_constraints(inner: str) -> list[str]:
    """`name:c1:c2(a:b)` → [name, c1, c2(a:b)]: colons inside parentheses belong to the argument."""
    parts, depth, current = [], 0, ""
    for ch in inner:
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        current += ch
    return [*parts, current]


def _parse_param(inner: str) -> _Param:
    catch_all = inner.startswith("*")
    inner = inner.lstrip("*")
    default = None
    if "=" in inner:
        inner, default = inner.split("=", 1)
    optional = inner.endswith("?") or default is not None
    inner = inner.rstrip("?")
    name, *constraints = _split_constraints(inner)
    if not name.isidentifier():
        raise ValueError(f"bad route parameter name {name!r}")
    return _Param(name, tuple(_constraint(c) for c in constraints), optional, catch_all, default)


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """A compiled template: `match(path)` gives the route params or None."""

    template: str
    regex: re.Pattern[str]
    params: tuple[_Param, ...]
    precedence: tuple[int, ...]  # lower sorts first

    def match(self, path: str) -> dict[str, str] | None:
        """Route params for `path` (relative to the prefix, still percent-encoded), or None."""
        m = self.regex.fullmatch(path.strip("/"))
        if not m:
            return None
        values: dict[str, str] = {}
        for param in self.params:
            raw = m.group(param.name)
            if raw is None or raw == "":
                if param.default is not None:
                    values[param.name] = param.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values


def _tokens(segment: str) -> list[tuple[bool, str]]:
    """(is_param, text) pieces of one segment; `{{` and `}}` escape braces, as in ASP.NET."""
    out: list[tuple[bool, str]] = []
    i, literal = 0, ""
    while i < len(segment):
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal += segment[i]
            i += 2
        elif segment[i] == "{":
            if literal:
                out.append((False, literal))
                literal = ""
            j, inner = i + 1, ""
            while True:
                if j >= len(segment):
                    raise ValueError(f"unclosed parameter in {segment!r}")
                if segment.startswith("{{", j) or segment.startswith("}}", j):
                    inner, j = inner + segment[j], j + 2
                elif segment[j] == "}":
                    break
                else:
                    inner, j = inner + segment[j], j + 1
            out.append((True, inner))
            i = j + 1
        elif segment[i] == "}":
            raise ValueError(f"unmatched '}}' in {segment!r}")
        else:
            literal += segment[i]
            i += 1
    if literal:
        out.append((False, literal))
    return out


def _segment_rank(tokens: list[tuple[bool, str]], params: list[_Param]) -> int:
    if not params:
        return 0
    if len(tokens) > 1:
        return 1  # complex segment: literal text around a parameter
    p = params[0]
    if p.catch_all:
        return 5
    if p.optional:
        return 4
    return 2 if p.checks else 3


def compile_route(template: str) -> RouteTemplate:
    """Compile an ASP.NET route template; raises ValueError for what it cannot express."""
    segments = template.strip("/").split("/") if template.strip("/") else []
    parts: list[str] = []
    params: list[_Param] = []
    ranks: list[int] = []
    for i, segment in enumerate(segments):
        tokens = _tokens(segment)
        pieces: list[str] = []
        seg_params: list[_Param] = []
        for is_param, text in tokens:
            if not is_param:
                pieces.append(re.escape(text))
                continue
            param = _parse_param(text)
            if param.catch_all and i != len(segments) - 1:
                raise ValueError(f"catch-all parameter must be last in {template!r}")
            seg_params.append(param)
            pieces.append(f"(?P<{param.name}>{param.pattern})")
        body = "".join(pieces)
        ranks.append(_segment_rank(tokens, seg_params))
        params.extend(seg_params)
        whole_optional = len(tokens) == 1 and seg_params and (seg_params[0].optional or seg_params[0].catch_all)
        if i == 0:
            parts.append(f"(?:{body})?" if whole_optional else body)
        else:
            # An optional last segment takes its slash with it: `items/{id?}` matches `items`.
            parts.append(f"(?:/{body})?" if whole_optional else f"/{body}")
    names = [p.name for p in params]
    if len(set(n.lower() for n in names)) != len(names):
        raise ValueError(f"repeated route parameter in {template!r}")
    regex = re.compile("".join(parts), re.IGNORECASE)
    return RouteTemplate(template, regex, tuple(params), tuple(ranks))
