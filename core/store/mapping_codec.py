"""Mapping ↔ JSON in camelCase wire names, with a strict validator naming the exact field at fault (F7).

The one place that knows the mapping JSON shape: the store keeps it in a column and the HTTP layer reads and
writes it. No azure imports here, so `functions/` may use it freely.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from core.errors import InvalidInput
from core.rules.fields import validate_lookup
from core.rules.filter_check import filter_problem
from core.rules.schema import DATAVERSE_COLUMNS, BC_FIELDS, crm_filter_columns
from core.rules.transforms import validate_transform
from core.model import (
    DeletePolicy,
    DeletionConflictPolicy,
    Direction,
    FieldMapping,
    Mapping,
    Schedule,
    UpdateConflictPolicy,
)

__all__ = ["mapping_to_json", "mapping_from_json", "validate_for_write", "field_mapping_to_json", "NAME_PATTERN"]

# Mapping names become URL segments and table keys: keep them plain (defaults look like "ITEM-PRODUCT").
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_./@-]{0,127}$")  # API v2.0 fields / Dataverse logical names

E = TypeVar("E", bound=Enum)
_MAPPING_KEYS = {"name", "erpEntity", "crmEntity", "crmTable", "crmIdField", "direction", "erpFilter", "crmFilter",
                 "syncOnlyCoupled", "updateConflict", "deletionConflict", "deletePolicy", "createNewOnNoMatch",
                 "schedule", "dependsOn", "paused", "version", "fieldMappings"}
_FIELD_KEYS = {"erpField", "crmField", "direction", "constant", "enabled", "transform", "lookup", "clearOnFailure",
               "notNull", "matchPriority", "caseSensitive"}
_SCHEDULE_KEYS = {"intervalMin", "inactivityTimeoutMin"}


def field_mapping_to_json(f: FieldMapping) -> dict[str, Any]:
    return {"erpField": f.erp_field, "crmField": f.crm_field, "direction": f.direction.value,
            "constant": f.constant, "enabled": f.enabled, "transform": f.transform, "lookup": f.lookup,
            "clearOnFailure": f.clear_on_failure, "notNull": f.not_null, "matchPriority": f.match_priority,
            "caseSensitive": f.case_sensitive}


def mapping_to_json(m: Mapping) -> dict[str, Any]:
    """Every wire key, nulls included, so a GET answers the whole shape and a PUT of it round-trips."""
    return {
        "name": m.name, "erpEntity": m.erp_entity, "crmEntity": m.crm_entity, "crmTable": m.crm_table,
        "crmIdField": m.crm_id_field, "direction": m.direction.value, "erpFilter": m.erp_filter,
        "crmFilter": m.crm_filter, "syncOnlyCoupled": m.sync_only_coupled,
        "updateConflict": m.update_conflict.value, "deletionConflict": m.deletion_conflict.value,
        "deletePolicy": m.delete_policy.value, "createNewOnNoMatch": m.create_new_on_no_match,
        "schedule": {"intervalMin": m.schedule.interval_min, "inactivityTimeoutMin": m.schedule.inactivity_timeout_min},
        "dependsOn": list(m.depends_on), "paused": m.paused, "version": m.version,
        "fieldMappings": [field_mapping_to_json(f) for f in m.field_mappings],
    }


class _Reader:
    """Reads one JSON object at `path`, refusing unknown keys and wrong types with the exact field path."""

    def __init__(self, data: Any, path: str, allowed: set[str]):
        if not isinstance(data, dict):
            raise InvalidInput(path or "body", f"{path or 'The body'} must be a JSON object.")
        self.data, self.path = data, path
        for name in data:
            if name not in allowed:
                raise InvalidInput(self.at(str(name)), f"Unknown field {name!r}.")

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, required: bool, default: Any) -> Any:
        if name not in self.data:
            if required:
                raise InvalidInput(self.at(name), f"{name} is required.")
            return default
        return self.data[name]

    def text(self, name: str, *, required: bool = False, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self._get(name, required, None)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(self.at(name), f"{name} must be a non-empty string.")
        if pattern is not None and not pattern.match(value):
            raise InvalidInput(self.at(name), f"{name} {value!r} is not a valid name.")
        return value

    def need_text(self, name: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.text(name, required=True, pattern=pattern)
        assert value is not None
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._get(name, False, default)
        if not isinstance(value, bool):
            raise InvalidInput(self.at(name), f"{name} must be true or false.")
        return value

    def integer(self, name: str, default: int | None, minimum: int, maximum: int = 10**6) -> int | None:
        value = self._get(name, False, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise InvalidInput(self.at(name), f"{name} must be a whole number from {minimum} to {maximum}.")
        return value

    def choice(self, name: str, enum: type[E], default: E | None = None) -> E:
        value = self._get(name, default is None, default)
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError as err:
            allowed = ", ".join(str(e.value) for e in enum)
            raise InvalidInput(self.at(name), f"{name} must be one of: {allowed}.") from err

    def items(self, name: str, *, required: bool = False) -> list[Any]:
        value = self._get(name, required, [])
        if not isinstance(value, list):
            raise InvalidInput(self.at(name), f"{name} must be a list.")
        return value


def _field_mapping(data: Any, path: str, mapping: str, direction: Direction) -> FieldMapping:
    r = _Reader(data, path, _FIELD_KEYS)
    erp_field, crm_field = r.text("erpField", pattern=_FIELD), r.text("crmField", pattern=_FIELD)
    constant = r._get("constant", False, None)
    if constant is not None and not isinstance(constant, (str, int, float, bool)):
        raise InvalidInput(r.at("constant"), "constant must be a string, number, true or false.")
    f = FieldMapping(
        erp_field=erp_field, crm_field=crm_field, direction=r.choice("direction", Direction, Direction.BIDIRECTIONAL),
        constant=constant, enabled=r.flag("enabled", True), transform=r.text("transform"),
        lookup=r.text("lookup"), clear_on_failure=r.flag("clearOnFailure", False),
        not_null=r.flag("notNull", False), match_priority=r.integer("matchPriority", None, 0),
        case_sensitive=r.flag("caseSensitive", False),
    )
    if erp_field is None and crm_field is None:
        raise InvalidInput(r.at("erpField"), "A field mapping needs erpField, crmField or both.")
    if constant is not None and erp_field is not None and crm_field is not None:
        raise InvalidInput(r.at("constant"), "A constant is written to one side: give only erpField or crmField.")
    if f.clear_on_failure and f.not_null:
        raise InvalidInput(r.at("clearOnFailure"), "clearOnFailure writes an empty value, which notNull forbids.")
    lookup_problem = validate_lookup(f.lookup, mapping)
    if lookup_problem:
        raise InvalidInput(r.at("lookup"), f"{lookup_problem[0].upper()}{lookup_problem[1:]}.")
    transform_problem = validate_transform(f.transform) if f.transform else None
    if transform_problem:
        raise InvalidInput(r.at("transform"), f"{transform_problem[0].upper()}{transform_problem[1:]}.")
    if direction is not Direction.BIDIRECTIONAL and f.direction not in (direction, Direction.BIDIRECTIONAL):
        raise InvalidInput(r.at("direction"), f"The mapping runs {direction.value}, so this field cannot run "
                                              f"{f.direction.value}.")
    if f.match_priority is not None and (erp_field is None or crm_field is None):
        raise InvalidInput(r.at("matchPriority"), "A match field compares erpField with crmField: give both.")
    return f


def _directions(direction: Direction) -> list[Direction]:
    return [Direction.TO_CRM, Direction.FROM_CRM] if direction is Direction.BIDIRECTIONAL else [direction]


def _each(items: list[Any], path: str, read: Callable[[Any, str], Any]) -> list[Any]:
    return [read(item, f"{path}[{n}]") for n, item in enumerate(items)]


def mapping_from_json(data: Any) -> Mapping:
    """Validate and build a Mapping. `version` is accepted and carried; the store decides the stored one.

    Raises:
        InvalidInput: `field` is the JSON path at fault, e.g. `fieldMappings[3].direction`.
    """
    r = _Reader(data, "", _MAPPING_KEYS)
    name = r.need_text("name", NAME_PATTERN)
    direction = r.choice("direction", Direction)
    s = _Reader(r._get("schedule", False, {}), "schedule", _SCHEDULE_KEYS)
    schedule = Schedule(interval_min=s.integer("intervalMin", 30, 1, 10_080) or 30,
                        inactivity_timeout_min=s.integer("inactivityTimeoutMin", 720, 1, 525_600) or 720)
    depends_on = _each(r.items("dependsOn"), "dependsOn", lambda v, p: _name(v, p, name))
    fields = _each(r.items("fieldMappings", required=True), "fieldMappings",
                   lambda v, p: _field_mapping(v, p, name, direction))
    mapping = Mapping(
        name=name, erp_entity=r.need_text("erpEntity", _FIELD), crm_entity=r.need_text("crmEntity", _FIELD),
        crm_table=r.need_text("crmTable", _FIELD), crm_id_field=r.need_text("crmIdField", _FIELD),
        direction=direction, field_mappings=tuple(fields), erp_filter=r.text("erpFilter"),
        crm_filter=r.text("crmFilter"), sync_only_coupled=r.flag("syncOnlyCoupled", True),
        update_conflict=r.choice("updateConflict", UpdateConflictPolicy, UpdateConflictPolicy.MERGE),
        deletion_conflict=r.choice("deletionConflict", DeletionConflictPolicy, DeletionConflictPolicy.FAIL),
        delete_policy=r.choice("deletePolicy", DeletePolicy, DeletePolicy.IGNORE),
        create_new_on_no_match=r.flag("createNewOnNoMatch", False), schedule=schedule,
        depends_on=tuple(depends_on), paused=r.flag("paused", False), version=r.integer("version", 1, 1) or 1,
    )
    _check_targets(mapping)
    return mapping


def validate_for_write(m: Mapping) -> None:
    """The checks a new definition must pass on top of its shape (F7): each field writes the side its direction
    writes, and entities, field names and filters exist on each side, so nothing fails only at run time.

    Only writes are checked this way: a version stored before a rule existed must still read.

    Raises:
        InvalidInput: naming the exact field, e.g. `fieldMappings[3].erpField` or `erpFilter`.
    """
    for n, f in enumerate(m.field_mappings):
        _check_sides(f, f"fieldMappings[{n}]", m.direction)
    erp_fields, crm_columns = BC_FIELDS.get(m.erp_entity), DATAVERSE_COLUMNS.get(m.crm_entity)
    if erp_fields is None:
        raise InvalidInput("erpEntity", f"{m.erp_entity} is not a Business Central entity Koppel knows; use one "
                                        f"of: {', '.join(BC_FIELDS)}.")
    if crm_columns is None:
        raise InvalidInput("crmEntity", f"{m.crm_entity} is not a Dataverse entity set Koppel knows; use one of: "
                                        f"{', '.join(DATAVERSE_COLUMNS)}.")
    if m.crm_id_field not in crm_columns:
        raise InvalidInput("crmIdField", f"{m.crm_entity} has no column {m.crm_id_field}.")
    for n, f in enumerate(m.field_mappings):
        if f.erp_field is not None and f.erp_field not in erp_fields:
            raise InvalidInput(f"fieldMappings[{n}].erpField", f"{m.erp_entity} has no field {f.erp_field}.")
        if f.crm_field is not None and f.crm_field not in crm_columns:
            raise InvalidInput(f"fieldMappings[{n}].crmField", f"{m.crm_entity} has no column {f.crm_field}.")
    for key, text, fields, crm in (("erpFilter", m.erp_filter, erp_fields, False),
                                   ("crmFilter", m.crm_filter, crm_filter_columns(m.crm_entity), True)):
        problem = filter_problem(text, fields, crm=crm) if text is not None else None
        if problem:
            raise InvalidInput(key, f"{key} is not a valid OData filter: {problem}.")


def _check_sides(f: FieldMapping, path: str, direction: Direction) -> None:
    if f.constant is None and (f.erp_field is None or f.crm_field is None):
        # Without a constant a field is read on one side and written on the other: both must be named.
        missing = "erpField" if f.erp_field is None else "crmField"
        raise InvalidInput(f"{path}.{missing}", f"{missing} is required: a field without a constant copies one "
                                                "side's value to the other.")
    if f.constant is not None and not any(f.flows(d) for d in _directions(direction)):
        side = "erpField" if f.erp_field is not None else "crmField"
        raise InvalidInput(f"{path}.{side}", f"The constant is written to {side}, which this field's direction "
                                             "never writes.")


def _name(value: Any, path: str, own: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidInput(path, "A dependency must be the name of a mapping.")
    if value == own:
        raise InvalidInput(path, "A mapping cannot depend on itself.")
    return value


def _check_targets(m: Mapping) -> None:
    """At least one enabled field flows in the mapping's direction, and no two write the same destination field."""
    directions = _directions(m.direction)
    if not any(f.flows(d) for f in m.field_mappings for d in directions):
        raise InvalidInput("fieldMappings", f"At least one enabled field must run {m.direction.value}.")
    for d in directions:
        written: dict[str, int] = {}
        for n, f in enumerate(m.field_mappings):
            if not f.flows(d):
                continue
            target = f.crm_field if d is Direction.TO_CRM else f.erp_field
            side = "crmField" if d is Direction.TO_CRM else "erpField"
            assert target is not None
            if target in written:
                raise InvalidInput(f"fieldMappings[{n}].{side}",
                                   f"{target} is already written by fieldMappings[{written[target]}].")
            written[target] = n
