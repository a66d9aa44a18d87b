"""`python -m devhost` and Azurite as separate processes, as the demo and e2e tests start them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.azurite import PROJECT_ROOT, TABLE_MAIN, AzuriteError, start_azurite

needs_azurite = pytest.mark.skipif(
    not (PROJECT_ROOT / TABLE_MAIN).exists(),
    reason="node_modules/azurite is missing: run `npm install` in the project root (CI does)",
)

APP = textwrap.dedent('''
    import azure.functions as func
    import logging

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="hello/{name}", methods=["GET"])
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        logging.info("saying hello")
        return func.HttpResponse("hello " + req.route_params["name"])
''')


def start(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    python_path = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen(cmd, cwd=cwd, env={**env, "PYTHONPATH": python_path}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.fixture(name="app_dir")
def _app_dir(tmp_path: Path) -> Path:
    """A folder with a tiny function_app.py, as the project root would have."""
    (tmp_path / "function_app.py").write_text(APP)
    return tmp_path


class TestDevhostMain:
    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
    def test_prints_url_and_key_then_serves_until_signalled(self, app_dir: Path, sig: int) -> None:
        env = {**os.environ, "KOPPEL_FUNCTION_KEY": "k-from-env"}
        proc = start([sys.executable, "-m", "devhost", "--port", "0", "--no-timers"], app_dir, env)
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            assert ready == {"url": ready["url"], "functionKey": "k-from-env"}
            with requests.Session() as s:
                resp = s.get(f"{ready['url']}/api/hello/koppel", headers={"x-functions-key": "k-from-env"}, timeout=10)
            assert resp.text == "hello koppel"
        finally:
            code, err = stop(proc, sig)
        assert code == 0, err
        assert "[hello " in err and "saying hello" in err  # function logs with name and invocation id

    def test_generates_a_key_when_none_is_set(self, app_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KOPPEL_FUNCTION_KEY"}
        proc = start([sys.executable, "-m", "devhost", "--port", "0"], app_dir, env)
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            assert len(ready["functionKey"]) >= 32
            with requests.Session() as s:
                assert s.get(f"{ready['url']}/api/hello/x", timeout=10).status_code == 401
        finally:
            stop(proc)


@needs_azurite
class TestAzurite:
    @pytest.fixture(name="table_service")
    def _table_service(self) -> Iterator[type]:
        """The Tables SDK client class (imported here: only store/ imports it in the app)."""
        from azure.data.tables import TableServiceClient

        yield TableServiceClient

    def test_start_create_table_stop(self, table_service: type) -> None:
        azurite = start_azurite()
        try:
            client = table_service.from_connection_string(azurite.connection_string)
            client.create_table("devhostsmoke")
            assert [t.name for t in client.list_tables()] == ["devhostsmoke"]
            assert f"TableEndpoint=http://127.0.0.1:{azurite.port}/devstoreaccount1;" in azurite.connection_string
        finally:
            azurite.stop()
        assert azurite.process.returncode == 0  # SIGINT: a clean shutdown, not a kill

    def test_data_in_a_location_survives_a_restart(self, table_service: type, tmp_path: Path) -> None:
        with start_azurite(location=tmp_path) as first:
            client = table_service.from_connection_string(first.connection_string)
            client.create_table("kept")
            client.get_table_client("kept").upsert_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
        # Stopped at once: only SIGINT makes Azurite save before its ~5 s timer (tooling.md §1).
        with start_azurite(location=tmp_path) as second:
            client = table_service.from_connection_string(second.connection_string)
            assert client.get_table_client("kept").get_entity("p", "r")["v"] == 1

    def test_missing_install_names_the_command(self, tmp_path: Path) -> None:
        with pytest.raises(AzuriteError, match="npm install"):
            start_azurite(project_root=tmp_path)

    def test_module_prints_the_connection_string(self, tmp_path: Path) -> None:
        proc = start([sys.executable, "-m", "devhost.azurite"], tmp_path, dict(os.environ))
        try:
            assert proc.stdout is not None
            line = json.loads(proc.stdout.readline())
            assert line["connectionString"].startswith("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;")
        finally:
            code, err = stop(proc)
        assert code == 0, err
