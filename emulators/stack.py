"""Start Entra ID, Business Central and Dataverse emulators together, in-process.

Used by `python -m emulators`, the test fixtures and the benchmarks: one CA, one token signing
key, one tenant and one client registration that both APIs accept.
"""
from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emulators.bc import BusinessCentral
from emulators.dataverse import Dataverse
from emulators.entra.app import Client, EntraId
from emulators.server import EmulatorServer, Faults
from emulators.tls import ensure_certificates
from emulators.tokens import TokenSigner

__all__ = ["StackInfo", "Stack", "start_stack", "BC_AUDIENCE"]

BC_AUDIENCE = "https://api.businesscentral.dynamics.com"
TENANT = "7c2d3c8e-4b1a-4e5f-9a7e-2f1d0c3b4a51"
COMPANY_ID = "5a0c2b1e-9d8f-4e7a-8b6c-1d2e3f4a5b6c"
ENVIRONMENT = "production"


@dataclass(frozen=True, slots=True)
class StackInfo:
    """What a client needs to reach the stack; printed as one JSON line by `python -m emulators`."""

    bc_url: str
    dataverse_url: str
    entra_url: str
    tenant: str
    bc_environment: str
    bc_company_id: str
    bc_scope: str
    dataverse_scope: str
    client_id: str
    client_secret: str
    ca_path: str
    ca_bundle: str

    def to_json(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class Stack:
    def __init__(self, info: StackInfo, entra: EntraId, bc: BusinessCentral, dataverse: Dataverse,
                 servers: dict[str, EmulatorServer]):
        self.info = info
        self.entra = entra
        self.bc = bc
        self.dataverse = dataverse
        self.servers = servers

    def set_faults(self, name: str, faults: Faults) -> None:
        self.servers[name].set_faults(faults)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.bc.close()
        self.dataverse.close()


def _credentials(state: Path) -> dict[str, str]:
    """The app registration, made once per state folder so restarts keep working."""
    path = state / "credentials.json"
    if path.exists():
        creds: dict[str, str] = json.loads(path.read_text())
        return creds
    creds = {
        "clientId": str(uuid.uuid4()),
        "clientSecret": secrets.token_urlsafe(24),
        "signingKey": secrets.token_hex(32),
    }
    path.write_text(json.dumps(creds))
    path.chmod(0o600)
    return creds


def start_stack(
    state_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    bc_port: int = 0,
    dataverse_port: int = 0,
    entra_port: int = 0,
    latency_ms: int = 0,
    webhook_debounce_s: float = 30.0,
) -> Stack:
    """Start the three emulators over HTTPS on loopback and return them with their `StackInfo`."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    certs = ensure_certificates(state)
    creds = _credentials(state)
    signer = TokenSigner(bytes.fromhex(creds["signingKey"]))
    ctx = certs.server_context()

    entra = EntraId(signer, TENANT, [Client(creds["clientId"], creds["clientSecret"])])
    bc = BusinessCentral(
        signer, tenant=TENANT, environment=ENVIRONMENT, company_id=COMPANY_ID,
        audience=BC_AUDIENCE, webhook_debounce_s=webhook_debounce_s, ca_bundle=str(certs.bundle_path),
    )
    dataverse = Dataverse(signer, ca_bundle=str(certs.bundle_path), client_id=creds["clientId"])
    servers = {
        "entra": EmulatorServer(entra, ctx, host=host, port=entra_port),
        # api-facts §B.7: 5 processing, up to 95 queued, then 429.
        "bc": EmulatorServer(bc, ctx, host=host, port=bc_port, concurrency_cap=5, queue_limit=95,
                             over_cap=bc.too_many_requests),
        # api-facts §A.7: 52 concurrent per user, refused at once past that (counted by the service).
        "dataverse": EmulatorServer(dataverse, ctx, host=host, port=dataverse_port),
    }
    dataverse.audience = servers["dataverse"].url
    for server in servers.values():
        if latency_ms:
            server.set_faults(Faults(latency_ms=latency_ms))
        server.start()
    info = StackInfo(
        bc_url=servers["bc"].url,
        dataverse_url=servers["dataverse"].url,
        entra_url=servers["entra"].url,
        tenant=TENANT,
        bc_environment=ENVIRONMENT,
        bc_company_id=COMPANY_ID,
        bc_scope=f"{BC_AUDIENCE}/.default",
        dataverse_scope=f"{servers['dataverse'].url}/.default",
        client_id=creds["clientId"],
        client_secret=creds["clientSecret"],
        ca_path=str(certs.ca_path),
        ca_bundle=str(certs.bundle_path),
    )
    return Stack(info, entra, bc, dataverse, servers)


