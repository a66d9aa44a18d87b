"""A randomized, model-based check of SPEC X3 and invariants 1, 2 and 4 against the emulators and Azurite.

A seeded generator interleaves what people and Koppel do to one mapping (syncOnlyCoupled off, so passes create
on both sides): a person's edits and new records on both sides, create-new (concurrent), sync now, sync many,
scheduled passes, an initial full sync, uncoupling — and kills the worker's process at a random instrumented
write, then recovers as the platform would (lease expiry, redelivery). After every step it checks:

- at most one counterpart per record: no coupling shares a record, and no record Koppel created is left
  uncoupled (the leftover of an interrupted create, or a duplicate);
- no lost edit, no silent overwrite: a person owns phone on the ERP side and website on the CRM side; after a
  final quiet run every coupled pair holds the person's last value on both sides, unless the record has an
  error row (recorded for a person to act on);
- no job unfinished after recovery.
"""
from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.sync import adoption
from core.deps import Deps
from core.sync.full_sync import queue_full_sync
from core.model import JobStatus
from core.sync.passes import run_mapping
from core.queue import local_queue
from tests.e2e.conftest import App
from tests.harness.crash import KILL_POINTS, Crash, Killed
from tests.harness.worker import captured_deps, deliver, expire_lease, queue_of

__all__ = ["Counts", "run_model", "fresh_stack_and_storage"]

_FINISHED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


@dataclass
class Counts:
    steps: int = 0
    kills: int = 0
    duplicates: int = 0
    lost_couplings: int = 0  # a record Koppel created, left uncoupled
    lost_edits: int = 0
    silent_overwrites: int = 0
    stuck_jobs: int = 0
    ops: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def __iadd__(self, other: Counts) -> Counts:
        for f in ("steps", "kills", "duplicates", "lost_couplings", "lost_edits", "silent_overwrites", "stuck_jobs"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.ops.update(other.ops)
        self.failures += other.failures
        return self

    @property
    def violations(self) -> int:
        return self.duplicates + self.lost_couplings + self.lost_edits + self.silent_overwrites + self.stuck_jobs


@dataclass
class _World:
    app: App
    crash: Crash
    worker: Deps
    mapping: str
    rng: random.Random
    erp_people: set[str] = field(default_factory=set)  # records a person created (the rest are Koppel's)
    crm_people: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)  # records a person uncoupled (their counterparts may rest)
    phone: dict[str, str] = field(default_factory=dict)  # ERP id → the person's last phone
    website: dict[str, str] = field(default_factory=dict)  # CRM id → the person's last website
    counts: Counts = field(default_factory=Counts)
    seen: set[str] = field(default_factory=set)  # violations already counted (each is counted once)

    # -- reading both systems ---------------------------------------------------------------------------------
    def couplings(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        token = None
        while True:
            params = {"top": 1000, **({"continuation": token} if token else {})}
            page = self.app.call("GET", f"/couplings/{self.mapping}", params=params).json()
            rows += page["value"]
            token = page.get("continuation")
            if not token:
                return rows

    def bc(self) -> dict[str, dict[str, Any]]:
        return self.app.bc_records("customers")

    def crm(self) -> dict[str, dict[str, Any]]:
        return self.app.crm_records("accounts", "accountid")


def _value(world: _World, what: str) -> str:
    return f"{what}-{world.rng.randrange(10**6):06d}"


# -- operations ---------------------------------------------------------------------------------------------
def _edit_erp(world: _World) -> None:
    erp = list(world.bc())
    if erp:
        e = world.rng.choice(erp)
        phone = f"+31 20 {world.rng.randrange(10**7):07d}"
        world.app.edit("erp", "customers", e, {"phoneNumber": phone})
        world.phone[e] = phone


def _edit_crm(world: _World) -> None:
    crm = list(world.crm())
    if crm:
        c = world.rng.choice(crm)
        site = f"https://example.com/{_value(world, 'w')}"
        world.app.edit("crm", "accounts", c, {"websiteurl": site})
        world.website[c] = site


def _create_erp(world: _World) -> None:
    [e] = world.app.seed("erp", "customers", 1)
    world.app.edit("erp", "customers", e, {"country": "NL"})
    world.erp_people.add(e)


def _create_crm(world: _World) -> None:
    [c] = world.app.seed("crm", "accounts", 1)
    world.app.edit("crm", "accounts", c, {"address1_country": "nl"})  # BC stores NL: adoption compares loosely
    world.crm_people.add(c)


def _coupled_erp(world: _World) -> list[str]:
    return [c["erpId"] for c in world.couplings()]


def _sync_now(world: _World) -> None:
    coupled = _coupled_erp(world)
    if coupled:
        e = world.rng.choice(coupled)
        resp = world.app.call("POST", "/sync", json={"mapping": world.mapping, "erpIds": [e], "direction": "auto"})
        _expect(world, resp, (200, 404, 409), "sync now")


def _sync_many(world: _World) -> None:
    coupled = _coupled_erp(world)
    if len(coupled) >= 2:
        ids = world.rng.sample(coupled, min(len(coupled), world.rng.randint(2, 4)))
        direction = world.rng.choice(["toCrm", "fromCrm"])
        resp = world.app.call("POST", "/sync", json={"mapping": world.mapping, "erpIds": ids, "direction": direction})
        _expect(world, resp, (202,), "sync many")
        assert local_queue(world.worker.settings.get("KOPPEL_QUEUE_NAME") or "koppel-jobs").drain(60)


def _create_new(world: _World) -> None:
    coupled = set(_coupled_erp(world))
    # A record a person uncoupled keeps its old counterpart, whose number key would refuse a second row (422).
    free = [e for e in world.bc() if e not in coupled and e not in world.released]
    if free:
        e = world.rng.choice(free)

        def call(_: int) -> Any:
            return world.app.call("POST", "/couplings", json={"mapping": world.mapping, "erpId": e, "createNew": True})

        with ThreadPoolExecutor(3) as pool:
            for resp in pool.map(call, range(3)):
                _expect(world, resp, (201, 409), "create new")


def _uncouple(world: _World) -> None:
    couplings = world.couplings()
    if couplings:
        c = world.rng.choice(couplings)
        resp = world.app.call("DELETE", f"/couplings/{world.mapping}/{c['erpId']}")
        _expect(world, resp, (200, 204, 404), "uncouple")
        world.released |= {c["erpId"], c["crmId"]}


def _delete(world: _World) -> None:
    """A person deletes a record on either side; its counterpart then follows the mapping's deletion policies."""
    side = world.rng.choice(["erp", "crm"])
    records = list(world.bc() if side == "erp" else world.crm())
    if len(records) > 2:
        r = world.rng.choice(records)
        for c in world.couplings():
            if r in (c["erpId"], c["crmId"]):
                world.released |= {c["erpId"], c["crmId"]}  # the survivor may rest uncoupled (policy)
        world.app.delete(side, "customers" if side == "erp" else "accounts", r)
        world.phone.pop(r, None)
        world.website.pop(r, None)


def _pass(world: _World) -> None:
    """A scheduled run, killed at a random write half of the time; the next run follows after the lease lapsed."""
    _killable(world, lambda: run_mapping(world.worker, world.mapping, owner=uuid.uuid4().hex),
              lambda: run_mapping(world.worker, world.mapping, owner=uuid.uuid4().hex))


def _full_sync(world: _World) -> None:
    queue_full_sync(world.worker, [world.mapping])
    [message] = queue_of(world.worker).take()
    deliveries = iter(range(2, 10))
    _killable(world, lambda: deliver(message), lambda: deliver(message, next(deliveries)))


_WEIGHTS = {"apply_batch": 4, "couple_many": 2, "claim_many": 2}


def _killable(world: _World, first: Any, again: Any) -> None:
    if world.rng.random() < 0.6:
        if world.rng.random() < 0.6:  # a named point: creates and coupling writes are rare among all writes
            cls, name = world.rng.choices(KILL_POINTS, [_WEIGHTS.get(n, 1) for _, n in KILL_POINTS])[0]
            world.crash.arm(f"{cls.__name__}.{name}", nth=world.rng.randint(1, 2), after=world.rng.random() < 0.7)
        else:
            world.crash.arm("*", nth=world.rng.randint(1, 12), after=world.rng.random() < 0.7)
        try:
            first()
        except Killed:
            world.counts.kills += 1
        world.crash.revive()
        expire_lease(world.worker, world.mapping)
        # The redelivery comes after the lock expired: the killed attempt's creates are no longer in flight.
        with _patched(adoption, "IN_FLIGHT_S", 0.0):
            again()
    else:
        first()


@contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _expect(world: _World, resp: Any, statuses: tuple[int, ...], what: str) -> None:
    if resp.status_code not in statuses:
        world.counts.failures.append(f"{what}: {resp.status_code} {resp.text[:300]}")


_OPS = [(_edit_erp, 4), (_edit_crm, 4), (_create_erp, 3), (_create_crm, 3), (_pass, 5), (_sync_now, 2),
        (_sync_many, 1), (_create_new, 1), (_uncouple, 1), (_delete, 1)]


# -- invariants -----------------------------------------------------------------------------------------------
def _check_structure(world: _World) -> None:
    couplings = world.couplings()
    by_erp, by_crm = Counter(c["erpId"] for c in couplings), Counter(c["crmId"] for c in couplings)
    shared = [r for r, n in list(by_erp.items()) + list(by_crm.items()) if n > 1 and f"shared {r}" not in world.seen]
    world.seen |= {f"shared {r}" for r in shared}
    world.counts.duplicates += len(shared)
    coupled = set(by_erp) | set(by_crm)
    originals = world.erp_people | world.crm_people | world.released
    koppels = [r for r in list(world.bc()) + list(world.crm()) if r not in originals]
    left = [r for r in koppels if r not in coupled and f"left {r}" not in world.seen]
    world.seen |= {f"left {r}" for r in left}
    if left:
        world.counts.lost_couplings += len(left)
        world.counts.failures.append(f"step {world.counts.steps}: uncoupled records Koppel created: {left}")
    # Both records of a pair made by Koppel: a copy of a copy — the original's content exists twice.
    twice = [c for c in couplings if c["erpId"] not in originals and c["crmId"] not in originals
             and f"twice {c['erpId']}" not in world.seen]
    world.seen |= {f"twice {c['erpId']}" for c in twice}
    if twice:
        world.counts.duplicates += len(twice)
        world.counts.failures.append(f"step {world.counts.steps}: pairs Koppel made from its own creates: "
                                     f"{[(c['erpId'], c['crmId']) for c in twice]}")


def _check_jobs(world: _World) -> None:
    """After recovery (the dead runs' heartbeats lapsed, the sweep ran), no job of the mapping is unfinished."""
    jobs = world.worker.storage().jobs.list(world.mapping, top=1000)
    stuck = [j for j in jobs if j.status not in _FINISHED]
    if stuck:
        world.counts.stuck_jobs += len(stuck)
        world.counts.failures.append(f"unfinished jobs {[(j.id, j.status.value) for j in stuck]}")


def _check_all_coupled(world: _World) -> None:
    """syncOnlyCoupled is off: after the quiet runs every record a person made has its counterpart."""
    coupled = {c["erpId"] for c in world.couplings()} | {c["crmId"] for c in world.couplings()}
    alone = [r for r in list(world.bc()) + list(world.crm()) if r not in coupled and r not in world.released]
    if alone:
        world.counts.lost_couplings += len(alone)
        world.counts.failures.append(f"records never coupled: {alone}")


def _check_values(world: _World) -> None:
    """After a quiet run: every coupled pair agrees, and holds the person's last value on the side they own."""
    run_mapping(world.worker, world.mapping, owner="settle-1")
    run_mapping(world.worker, world.mapping, owner="settle-2")
    errors = world.app.call("GET", "/errors", params={"mapping": world.mapping, "top": 1000}).json()["value"]
    flagged = {e.get("erpId") for e in errors} | {e.get("crmId") for e in errors}
    bc, crm = world.bc(), world.crm()
    for c in world.couplings():
        e, r = bc.get(c["erpId"]), crm.get(c["crmId"])
        if e is None or r is None or c["erpId"] in flagged or c["crmId"] in flagged or c.get("skipped"):
            continue
        if c["erpId"] in world.phone and e["phoneNumber"] != world.phone[c["erpId"]]:
            world.counts.silent_overwrites += 1
            world.counts.failures.append(f"ERP {c['erpId']} phone {e['phoneNumber']!r}, person set "
                                         f"{world.phone[c['erpId']]!r}")
        if c["crmId"] in world.website and r["websiteurl"] != world.website[c["crmId"]]:
            world.counts.silent_overwrites += 1
            world.counts.failures.append(f"CRM {c['crmId']} website {r['websiteurl']!r}, person set "
                                         f"{world.website[c['crmId']]!r}")
        if (e["phoneNumber"] or "") != (r["telephone1"] or "") or (e["website"] or "") != (r["websiteurl"] or ""):
            world.counts.lost_edits += 1
            world.counts.failures.append(f"pair {c['erpId']}/{c['crmId']} not in step: phone {e['phoneNumber']!r}/"
                                         f"{r['telephone1']!r}, website {e['website']!r}/{r['websiteurl']!r}")


def fresh_stack_and_storage(app: App) -> None:
    """Both emulators empty and Koppel's storage wiped (mappings kept), as the `app` fixture leaves them."""
    import requests

    from tests.e2e.conftest import _wipe_storage

    for server in app.stack.servers.values():
        requests.post(f"{server.url}/_admin/reset", timeout=10).raise_for_status()
    _wipe_storage(captured_deps().settings.storage().reveal())


def run_model(app: App, crash: Crash, seed: int, steps: int, *, check_jobs: bool = True) -> Counts:
    """One seeded run of `steps` operations on a fresh mapping; the mapping stops creating afterwards."""
    from tests.e2e.test_matching import own_customer_mapping

    fresh_stack_and_storage(app)
    name = own_customer_mapping(app, currency=False)
    worker = captured_deps()
    mappings = worker.storage().mappings
    current = mappings.get(name)
    mappings.put(dataclasses.replace(current, sync_only_coupled=False), expected_etag=current.etag)
    world = _World(app, crash, worker, name, random.Random(seed))
    try:
        for _ in range(3):
            _create_erp(world)
            _create_crm(world)
        _full_sync(world)
        world.counts.ops["fullSync"] += 1
        _check_structure(world)
        ops, weights = zip(*_OPS)
        for _ in range(steps):
            op = world.rng.choices(ops, weights)[0]
            world.counts.steps += 1
            world.counts.ops[op.__name__.strip("_")] += 1
            op(world)
            _check_structure(world)
        _check_values(world)
        _check_structure(world)
        _check_all_coupled(world)
        if check_jobs:
            _check_jobs(world)
    finally:
        current = mappings.get(name)
        mappings.put(dataclasses.replace(current, sync_only_coupled=True), expected_etag=current.etag)
    return world.counts
