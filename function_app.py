"""The Koppel Function App: registers the blueprints, nothing else."""
import azure.functions as func

from functions import couplings, monitoring, sync
from functions import runs, scheduler, worker
from functions import errors_view, jobs, mappings
from functions import openapi
from functions import setup
from functions import webhooks
from functions import admin_page
from functions import reconcile
from functions import pausing

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (monitoring.bp, couplings.bp, sync.bp,
                  runs.bp, scheduler.bp, worker.bp,
                  mappings.bp, jobs.bp, errors_view.bp, openapi.bp,
                  webhooks.bp, setup.bp, admin_page.bp, pausing.bp, reconcile.bp):
    app.register_functions(blueprint)
