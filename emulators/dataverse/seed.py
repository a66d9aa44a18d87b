"""Reference data every organisation has after a reset (currencies, the application user, two people)
and deterministic seeded rows for tests and benchmarks, built as dicts (100,000 rows in about a second).
"""
from __future__ import annotations

import random
import uuid
from typing import Any

from emulators.dataverse.errors import BadRequest
from emulators.dataverse.schema import TABLES, Table
from emulators.dataverse.state import Store

__all__ = ["ORG_ID", "BU_ID", "BASE_CURRENCY_ID", "PEOPLE", "create_reference_data", "app_user_id", "seed_rows"]

ORG_ID = "0d6b3a1e-5c2f-4e8a-9b7d-3f1e2a4c6b8d"
BU_ID = "8e2f4a6c-1b3d-4f5e-a7c9-2d4f6a8b0c1e"
BASE_CURRENCY_ID = "b1e4c2a0-7f3d-4e6b-9a8c-5d2f1e0a3b4c"
_NS = uuid.UUID("9b0c6d2e-3f4a-4b5c-8d7e-1a2b3c4d5e6f")
# People who edit CRM rows by hand in tests: (systemuserid, full name, e-mail).
PEOPLE = (
    ("a7c1e3f5-2b4d-4f6a-8c0e-1d3f5a7b9c2e", "Anna de Vries", "anna.devries@koppel.example"),
    ("c3e5a7b9-4d6f-4a8c-9e1b-3f5a7c9e1b4d", "Piet Jansen", "piet.jansen@koppel.example"),
)
_CURRENCIES = (("EUR", "Euro", "€"), ("USD", "US Dollar", "$"), ("GBP", "Pound Sterling", "£"))


def app_user_id(client_id: str) -> str:
    return str(uuid.uuid5(_NS, client_id.lower()))


def create_reference_data(store: Store, client_id: str | None) -> None:
    users, currencies = TABLES["systemuser"], TABLES["transactioncurrency"]
    store.base_currency_id = BASE_CURRENCY_ID
    system = PEOPLE[0][0]
    with store.transaction() as txn:
        for ident, name, mail in PEOPLE:
            first, _, last = name.partition(" ")
            store.create(txn, users, {"fullname": name, "firstname": first, "lastname": last,
                                      "internalemailaddress": mail, "domainname": mail, "islicensed": True,
                                      "accessmode": 0}, system, ident=ident)
        for i, (code, name, symbol) in enumerate(_CURRENCIES):
            ident = BASE_CURRENCY_ID if i == 0 else str(uuid.uuid5(_NS, code))
            rate = 1.0 if i == 0 else (1.08 if code == "USD" else 0.85)
            store.create(txn, currencies, {"isocurrencycode": code, "currencyname": name, "currencysymbol": symbol,
                                           "exchangerate": rate, "currencyprecision": 2}, system, ident=ident)
        store.create(txn, TABLES["organization"], {"name": "Koppel emulated organization",
                                                   "_basecurrencyid_value": BASE_CURRENCY_ID}, system, ident=ORG_ID)
        if client_id:
            ensure_app_user(store, client_id)


def ensure_app_user(store: Store, client_id: str) -> str:
    """The application user of an app registration (§A.8), made on first sight."""
    ident = app_user_id(client_id)
    users = TABLES["systemuser"]
    if store.get(users, ident) is None:
        with store.transaction() as txn:
            store.create(txn, users, {"fullname": f"# {client_id}", "applicationid": client_id.lower(),
                                      "domainname": f"{client_id}@koppel.example", "islicensed": False,
                                      "accessmode": 4}, ident, ident=ident)
    return ident


_COMPANIES = ("Contoso", "Fabrikam", "Northwind", "Adventure Works", "Tailspin", "Litware", "Proseware",
              "Wingtip", "Woodgrove", "Alpine Ski", "Blue Yonder", "Coho Winery")
_FORMS = ("BV", "NV", "GmbH", "Ltd", "Inc", "AG")
_CITIES = (("Amsterdam", "1011", "Netherlands"), ("Utrecht", "3511", "Netherlands"), ("Antwerpen", "2000", "Belgium"),
           ("Köln", "50667", "Germany"), ("London", "EC1A", "United Kingdom"), ("Lyon", "69001", "France"))
_FIRST = ("Anna", "Bram", "Chloé", "Daan", "Eva", "Finn", "Greet", "Hugo", "Iris", "Jan", "Lotte", "Milan")
_LAST = ("Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters")


def _fields(table: Table, rng: random.Random, n: int, seed: int) -> dict[str, Any]:
    city, postal, country = rng.choice(_CITIES)
    street = {"address1_line1": f"{rng.choice(_LAST)}straat {rng.randint(1, 300)}", "address1_city": city,
              "address1_postalcode": f"{postal} {rng.randint(10, 99)}", "address1_country": country}
    phone = f"+31 20 {rng.randint(1000000, 9999999)}"
    if table.logical_name == "account":
        name = f"{rng.choice(_COMPANIES)} {rng.choice(_FORMS)} {n}"
        return {"name": name, "accountnumber": f"S{seed}-{n:06d}", **street, "telephone1": phone,
                "emailaddress1": f"info{n}@example.com", "websiteurl": f"https://www.example.com/{n}",
                "customertypecode": 3, "creditlimit": rng.randint(0, 50) * 1000}
    if table.logical_name == "contact":
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {"firstname": first, "lastname": last, "jobtitle": "Purchaser", "telephone1": phone,
                "emailaddress1": f"{first.lower()}.{n}@example.com", **street}
    if table.logical_name == "product":
        price = rng.randint(100, 100000) / 100
        return {"productnumber": f"P{seed}-{n:06d}", "name": f"Item {n}", "price": price,
                "standardcost": round(price * 0.6, 2), "currentcost": round(price * 0.6, 2),
                "quantityonhand": rng.randint(0, 500), "producttypecode": 1}
    if table.logical_name == "transactioncurrency":
        code = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3)) + str(n)
        return {"isocurrencycode": code, "currencyname": f"Currency {code}", "currencysymbol": code,
                "exchangerate": rng.randint(50, 200) / 100, "currencyprecision": 2}
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {"fullname": f"{first} {last}", "firstname": first, "lastname": last, "islicensed": True,
            "internalemailaddress": f"{first.lower()}.{n}@koppel.example", "accessmode": 0}


def seed_rows(store: Store, table: Table, count: int, seed: int, user_id: str) -> list[str]:
    """`count` rows, the same ones for the same seed, created as `user_id` in one transaction."""
    if not isinstance(count, int) or not 0 <= count <= 1_000_000:
        raise BadRequest("count must be an integer from 0 to 1000000.")
    rng = random.Random(seed)
    ids = []
    with store.transaction() as txn:
        for n in range(1, count + 1):
            ident = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            store.create(txn, table, _fields(table, rng, n, seed), user_id, ident=ident)
            ids.append(ident)
    return ids
