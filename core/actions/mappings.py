"""Mappings as data (F7, X15): read, create, replace, merge-patch, delete, versions and reset-defaults.

Every write goes through the strict codec (`mapping_from_json`), so an invalid definition is refused with the
exact field at fault and nothing is stored; every change keeps the previous version in the MappingStore.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from core.rules.defaults import default_mappings
from core.deps import Deps
from core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, StaleWrite
from core.rules.fields import parse_lookup
from core.model import Mapping
from core.rules.schema import BC_FIELDS
from core.store.mapping_codec import mapping_from_json, mapping_to_json, validate_for_write

__all__ = [
    "PutResult", "DefaultDiff", "list_mappings", "get_mapping", "put_mapping", "patch_mapping", "delete_mapping",
    "mapping_versions", "reset_defaults", "merge_patch", "diff_default",
]

# Keys the store owns: never compared, never taken from a body as a change.
_STORE_KEYS = ("version",)


@dataclass(frozen=True, slots=True)
class PutResult:
    mapping: Mapping
    created: bool


@dataclass(frozen=True, slots=True)
class DefaultDiff:
    """What reset-defaults would do to one default mapping: create, replace (listing the keys) or nothing."""

    name: str
    change: str  # "create" | "replace" | "unchanged"
    changed_keys: tuple[str, ...] = ()
    applied: bool = False


def _body_with_name(body: Any, name: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("body", "The body must be a JSON object.")
    given = body.get("name")
    if given is not None and (not isinstance(given, str) or given.upper() != name):
        raise InvalidInput("name", f"name must be {name} (the name in the route) or absent.")
    return {**body, "name": name}


def list_mappings(deps: Deps) -> list[Mapping]:
    return deps.storage().mappings.list()


def get_mapping(deps: Deps, name: str) -> Mapping:
    """Raises: NotFound: naming `name`."""
    return deps.storage().mappings.get(name)


def put_mapping(deps: Deps, name: str, body: Any, if_match: str | None = None) -> PutResult:
    """Create or replace a mapping from a whole definition.

    Args:
        deps: dependencies.
        name: the route's mapping name (canonical, upper case).
        body: the JSON definition; its `name` must equal `name` or be absent; `version` is ignored.
        if_match: the etag the caller read; a stale one is refused, `*` requires the mapping to exist.

    Returns:
        The stored mapping (new version and etag) and whether it was created.

    Raises:
        InvalidInput: the definition is invalid (`field` is the JSON path at fault); nothing is stored.
        NotFound: If-Match was given and the mapping does not exist.
        StaleWrite: the mapping changed since the caller's If-Match etag.
    """
    mapping = mapping_from_json(_body_with_name(body, name))
    store = deps.storage().mappings
    _check_written(mapping, store.list())
    expected = _expected_etag(deps, name, if_match)
    if expected is None:
        try:
            store.get(name)
            created = False
        except NotFound:
            created = True
    else:
        created = False
    try:
        stored = store.put(mapping, expected_etag=expected)
    except StaleWrite as err:
        if if_match and if_match.strip() != "*":
            raise PreconditionFailed(f"Mapping {name} changed since the version in If-Match; read it again.") from err
        raise
    if not created:
        _reschedule(deps, stored)
    return PutResult(stored, created)


def _check_written(mapping: Mapping, stored: Sequence[Mapping]) -> None:
    """What a new definition must pass (F7): the codec's write checks, and every mapping that `dependsOn` or a
    field's `lookup` names exists, so none fails only at run time.

    Raises:
        InvalidInput: naming the field, e.g. `dependsOn[n]` or `fieldMappings[n].lookup`.
    """
    validate_for_write(mapping)
    known = {m.name: m for m in stored if m.name != mapping.name}
    for n, dep in enumerate(mapping.depends_on):
        if dep not in known:
            raise InvalidInput(f"dependsOn[{n}]", f"There is no mapping named {dep} to depend on.")
    for n, f in enumerate(mapping.field_mappings):
        ref = parse_lookup(f.lookup) if f.lookup else None
        for target in ref.mappings if ref else ():
            if target not in known:
                raise InvalidInput(f"fieldMappings[{n}].lookup", f"There is no mapping named {target} to look up "
                                                                 "through.")
            entity = known[target].erp_entity
            if ref and ref.erp_key and ref.erp_key not in BC_FIELDS.get(entity, ()):
                raise InvalidInput(f"fieldMappings[{n}].lookup", f"{entity} (mapping {target}) has no field "
                                                                 f"{ref.erp_key}.")


def _reschedule(deps: Deps, mapping: Mapping) -> None:
    """F8: a schedule change takes effect at once. The scheduler reads the state's next run time, so it is
    recomputed from the last run with the new schedule (a mapping that never ran is due already)."""
    storage = deps.storage()
    state = storage.state.get(mapping.name)
    if state.next_run_on is None or state.last_run_on is None or state.is_leased(deps.clock()):
        return  # due at once already, or a run holds it: that run saves its next time from the new schedule
    minutes = mapping.schedule.inactivity_timeout_min if state.idle else mapping.schedule.interval_min
    due = state.last_run_on + dt.timedelta(minutes=minutes)
    if due == state.next_run_on:
        return
    try:
        storage.state.save(replace(state, next_run_on=due))
    except StaleWrite:  # a run started meanwhile: it saves its own next run time
        pass


def _expected_etag(deps: Deps, name: str, if_match: str | None) -> str | None:
    if not if_match:
        return None
    if if_match.strip() == "*":
        return deps.storage().mappings.get(name).etag
    return if_match.strip()


def merge_patch(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7396 at the top level: each key replaces the current one; null removes it (its default applies)."""
    if not isinstance(patch, dict):
        raise InvalidInput("body", "A merge patch must be a JSON object.")
    merged = dict(current)
    for k, v in patch.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged


def patch_mapping(deps: Deps, name: str, patch: Any, if_match: str | None = None) -> Mapping:
    """Merge-patch a mapping; the result is validated as a whole before anything is stored.

    Raises:
        NotFound: no such mapping.
        InvalidInput: the patched definition is invalid, naming the field.
        StaleWrite: the mapping changed since If-Match, or while it was patched.
    """
    store = deps.storage().mappings
    current = store.get(name)
    body = _body_with_name(merge_patch(mapping_to_json(current), patch), name)
    mapping = mapping_from_json(body)
    _check_written(mapping, store.list())
    # Without If-Match, still replace only the state we patched, so a concurrent edit is never lost.
    caller = if_match.strip() if if_match and if_match.strip() != "*" else None
    try:
        stored = store.put(mapping, expected_etag=caller or current.etag)
    except StaleWrite as err:
        if caller:
            raise PreconditionFailed(f"Mapping {name} changed since the version in If-Match; read it again.") from err
        raise
    if stored.schedule != current.schedule:
        _reschedule(deps, stored)
    return stored


def _dependents(mappings: Sequence[Mapping], name: str) -> list[str]:
    return [m.name for m in mappings if m.name != name
            and (name in m.depends_on or any(f.lookup == name for f in m.field_mappings))]


def delete_mapping(deps: Deps, name: str, *, force: bool = False) -> int:
    """Delete a mapping (its versions stay). Refused while it has couplings or other mappings use it, unless forced.

    With `force`, its couplings are removed too (never any record). Answers how many couplings were removed.

    Raises:
        NotFound: no such mapping.
        Conflict: it still has couplings (reason `hasCouplings`) or is used by another mapping (`inUse`).
    """
    storage = deps.storage()
    storage.mappings.get(name)
    if not force:
        users = _dependents(storage.mappings.list(), name)
        if users:
            raise Conflict(f"Mapping {name} is used by {', '.join(users)}; change those first or use force=true.",
                           reason="inUse", field="name")
        page, _ = storage.couplings.list_page(name, top=1)
        if page:
            raise Conflict(f"Mapping {name} still has couplings; delete them first or use force=true.",
                           reason="hasCouplings", field="name")
    removed = storage.couplings.uncouple_all(name) if force else 0
    storage.mappings.delete(name)
    return removed


def mapping_versions(deps: Deps, name: str) -> list[Mapping]:
    """Every version, oldest first. Raises: NotFound: the name never had a version."""
    versions = deps.storage().mappings.versions(name)
    if not versions:
        raise NotFound(f"There is no mapping named {name}.", field="name")
    return versions


def _comparable(m: Mapping) -> dict[str, Any]:
    data = mapping_to_json(m)
    for k in _STORE_KEYS:
        data.pop(k, None)
    return data


def diff_default(default: Mapping, current: Mapping | None) -> DefaultDiff:
    """Pure: what resetting `current` to `default` changes, by top-level key."""
    if current is None:
        return DefaultDiff(default.name, "create")
    want, have = _comparable(default), _comparable(current)
    changed = tuple(k for k in want if want[k] != have.get(k))
    return DefaultDiff(default.name, "replace" if changed else "unchanged", changed)


def reset_defaults(deps: Deps, *, confirm: bool, names: Sequence[str] | None = None) -> list[DefaultDiff]:
    """X15: the diff between the shipped defaults and the current mappings; applied only when `confirm`.

    A replaced mapping's customizations are never lost: the store keeps them as the previous version, and the
    answer lists the keys that changed. Mappings that are not defaults are never touched.

    Raises:
        InvalidInput: `names` holds a name that is not a default mapping.
        StaleWrite: a mapping changed while the reset was applied.
    """
    defaults = {m.name: m for m in default_mappings()}
    for n in names or ():
        if n not in defaults:
            raise InvalidInput("names", f"{n} is not a default mapping; defaults are {', '.join(defaults)}.")
    store = deps.storage().mappings
    current = {m.name: m for m in store.list()}
    wanted = [defaults[n] for n in (names or defaults)]
    diffs = [diff_default(d, current.get(d.name)) for d in wanted]
    if not confirm:
        return diffs
    out = []
    for d, diff in zip(wanted, diffs):
        if diff.change == "unchanged":
            out.append(diff)
            continue
        have = current.get(d.name)
        store.put(d, expected_etag="new" if have is None else have.etag)
        out.append(replace(diff, applied=True))
    return out
