"""Run a mapping's synchronization now (F8/F13/X5): `POST /mappings/{name}/sync {mode, dryRun}` → 202 + job ids."""
from __future__ import annotations

import azure.functions as func

from core.commands import require_mapping_name
from core.errors import Conflict, InvalidInput
from core.sync.passes import queue_sync_jobs
from functions.deps import deps
from functions.http import guarded, json_response, read_options
from core.sync.loading import load_mapping

__all__ = ["bp"]

bp = func.Blueprint()


@bp.route(route="mappings/{name}/sync", methods=["POST"])
def run_sync(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = require_mapping_name(req.route_params.get("name"), "name")
        data = read_options(req, {"mode"})
        mode = data.get("mode", "incremental")
        if mode not in ("incremental", "full"):
            raise InvalidInput("mode", "mode must be incremental or full.")
        dry_run = data["dryRun"]
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
