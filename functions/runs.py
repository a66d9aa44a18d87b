"""Run a mapping's synchronization now (F8/F13/X5): `POST /mappings/{name}/sync {mode, dryRun}` → 202 + job ids."""
from __future__ import annotations

import azure.functions as func

from core.commands import parse_object, require_mapping_name
from core.coupling import load_mapping
from core.errors import Conflict, InvalidInput
from core.passes import queue_sync_jobs
from functions.deps import deps
from functions.http import guarded, json_response, read_json

__all__ = ["bp"]

bp = func.Blueprint()


@bp.route(route="mappings/{name}/sync", methods=["POST"])
def run_sync(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = require_mapping_name(req.route_params.get("name"), "name")
        data = parse_object(read_json(req) if req.get_body() else {}, {"mode", "dryRun"}, set())
        mode = data.get("mode", "incremental")
        if mode not in ("incremental", "full"):
            raise InvalidInput("mode", "mode must be incremental or full.")
        dry_run = data.get("dryRun", False)
        if not isinstance(dry_run, bool):
            raise InvalidInput("dryRun", "dryRun must be true or false.")
        d = deps()
        mapping = load_mapping(d, name)
        if mapping.paused:
            raise Conflict(f"Mapping {name} is paused.", reason="paused")
        jobs = queue_sync_jobs(d, mapping, dry_run=dry_run)
        ids = [j.id for j in jobs]
        d.queue().send({"kind": "run", "mapping": name, "mode": mode, "dryRun": dry_run, "jobId": ids[0],
                        "jobIds": ids}, message_id=f"sync-{ids[0]}")
        return json_response({"mapping": name, "mode": mode, "dryRun": dry_run, "jobIds": ids}, 202)

    return guarded(req, run)
