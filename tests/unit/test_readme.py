"""The README starts with the two commands, then walks an administrator through, before the API reference."""
from __future__ import annotations

from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_first_two_commands_are_the_demo_and_the_tests() -> None:
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[0] for line in block] == ["scripts/demo", "scripts/test"]


def test_the_administrators_path_comes_before_the_api_reference() -> None:
    path = README.index("## Administrator's path")
    assert path < README.index("## HTTP API")
    steps = ["az deployment group create", "Microsoft Entra Applications", "Application users", "bc-extension/",
             "crm-solution/", "/api/setup/full-sync", "/api/console"]
    section = README[path:README.index("## HTTP API")]
    positions = [section.index(step) for step in steps]
    assert positions == sorted(positions), "deploy, register, BC actions, ribbon, full sync, admin page: in order"
