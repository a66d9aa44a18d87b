"""Field transforms: small named callables `(value, ctx) -> value` composed from `FieldMapping.transform`.

A transform spec is one or more steps joined by `|`, e.g. `"trim|upper|prefix:NL-"`. Each step runs
forward when writing toCrm and backward when writing fromCrm, so a bidirectional field round-trips
without ping-pong (bc-behaviour §2.6: transformation rules are applied before the value is written):

    upper, lower, trim      the same both ways
    truncate:<n>            the same both ways (keeps the first n characters)
    prefix:<text>           toCrm adds <text>; fromCrm removes it when present
    map:a=b;c=d             toCrm a→b, c→d; fromCrm b→a, d→c; values not listed pass through

Non-string values (None, numbers, GUID lookups) pass through every step unchanged.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.model import Direction

__all__ = ["TransformContext", "Transform", "validate_transform", "compile_transform", "apply_transform"]


@dataclass(frozen=True, slots=True)
class TransformContext:
    """What a transform step may depend on: the direction being written and the destination field."""

    direction: Direction
    field: str | None = None


Transform = Callable[[Any, TransformContext], Any]


def _upper(value: Any, ctx: TransformContext) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any, ctx: TransformContext) -> Any:
    return value.lower() if isinstance(value, str) else value


def _trim(value: Any, ctx: TransformContext) -> Any:
    return value.strip() if isinstance(value, str) else value


def _truncate(arg: str) -> Transform:
    n = int(arg)

    def step(value: Any, ctx: TransformContext) -> Any:
        return value[:n] if isinstance(value, str) else value

    return step


def _prefix(arg: str) -> Transform:
    def step(value: Any, ctx: TransformContext) -> Any:
        if not isinstance(value, str) or not value:
            return value  # an empty value stays empty: a prefix alone is not data
        if ctx.direction is Direction.TO_CRM:
            return value if value.startswith(arg) else arg + value
        return value[len(arg):] if value.startswith(arg) else value

    return step


def _map(arg: str) -> Transform:
    forward = _parse_pairs(arg)
    backward = {v: k for k, v in forward.items()}

    def step(value: Any, ctx: TransformContext) -> Any:
        if not isinstance(value, str):
            return value
        table = forward if ctx.direction is Direction.TO_CRM else backward
        return table.get(value.strip(), value)

    return step


def _parse_pairs(arg: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in arg.split(";"):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"map entry {part!r} is not of the form a=b")
        if key.strip() in pairs:
            raise ValueError(f"map entry {key.strip()!r} appears twice")
        pairs[key.strip()] = val.strip()
    if not pairs:
        raise ValueError("map needs at least one a=b entry")
    if len(set(pairs.values())) != len(pairs):
        raise ValueError("map values must be distinct so the fromCrm direction can reverse them")
    return pairs


_SIMPLE: dict[str, Transform] = {"upper": _upper, "lower": _lower, "trim": _trim}
_WITH_ARG: dict[str, Callable[[str], Transform]] = {"truncate": _truncate, "prefix": _prefix, "map": _map}


def _compile_step(step: str) -> Transform:
    name, sep, arg = step.partition(":")
    name = name.strip()
    if not sep:
        if name in _SIMPLE:
            return _SIMPLE[name]
        if name in _WITH_ARG:
            raise ValueError(f"transform {name!r} needs an argument ({name}:…)")
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted({*_SIMPLE, *_WITH_ARG}))}")
    if name not in _WITH_ARG:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted({*_SIMPLE, *_WITH_ARG}))}")
    if name == "truncate" and not (arg.strip().isdigit() and int(arg) > 0):
        raise ValueError(f"truncate needs a positive whole number, not {arg!r}")
    if name == "prefix" and not arg:
        raise ValueError("prefix needs the text to add")
    return _WITH_ARG[name](arg if name == "prefix" else arg.strip())


def compile_transform(spec: str | None) -> tuple[Transform, ...]:
    """The steps of a transform spec, in order.

    Args:
        spec: `FieldMapping.transform`, e.g. `"trim|upper"`; None or blank means no transform.

    Returns:
        The compiled steps.

    Raises:
        ValueError: the spec names an unknown transform or a step's argument is bad.
    """
    if spec is None or not spec.strip():
        return ()
    return tuple(_compile_step(step) for step in spec.split("|"))


def validate_transform(spec: str | None) -> str | None:
    """What is wrong with a transform spec, in words for the mapping validator; None when it is valid."""
    try:
        compile_transform(spec)
    except ValueError as exc:
        return str(exc)
    return None


def apply_transform(steps: tuple[Transform, ...], value: Any, ctx: TransformContext) -> Any:
    """Run the steps forward for toCrm and in reverse order for fromCrm (so fromCrm undoes toCrm)."""
    ordered = steps if ctx.direction is Direction.TO_CRM else tuple(reversed(steps))
    for step in ordered:
        value = step(value, ctx)
    return value
