"""`modelcycle deploy`, `rollback` and `keys` as a user runs them: exit codes, one line."""

from __future__ import annotations

import json

import pytest
from _serve_helpers import World, run_cli
from sklearn.pipeline import Pipeline

from modelcycle.data import Table

pytestmark = pytest.mark.slow


def test_deploy_and_rollback(
    world: World, electricity: Table, elec_logreg: Pipeline, elec_tree: Pipeline
) -> None:
    world.register("elec", elec_logreg, electricity, alias="production")
    world.register("elec", elec_tree, electricity)

    deployed = run_cli(world, "deploy", "elec", "--version", "2", "--reason", "deeper tree")
    assert deployed.returncode == 0, deployed.stderr
    assert "Deployed elec@production to version 2 (was version 1)" in deployed.stdout
    assert world.registry.get_version("elec", alias="production").version == 2

    back = run_cli(world, "rollback", "elec", "--json")
    assert back.returncode == 0, back.stderr
    move = json.loads(back.stdout)
    assert (move["version"], move["previous_version"], move["action"]) == (1, 2, "rollback")
    assert world.registry.get_version("elec", alias="production").version == 1
    with world.store() as store:
        history = store.deployment_history("elec")
        assert [(d.action, d.version, d.reason) for d in history] == [
            ("deploy", "2", "deeper tree"),
            ("rollback", "1", None),
        ]
        assert [e.kind for e in store.events("elec")] == ["deploy", "rollback"]

    missing = run_cli(world, "deploy", "elec", "--version", "7")
    assert missing.returncode == 1
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "no version 7" in lines[0] and "Traceback" not in missing.stderr
    assert world.registry.get_version("elec", alias="production").version == 1


def test_keys(world: World) -> None:
    created = run_cli(world, "keys", "create", "--role", "admin", "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    with world.store() as store:
        info = store.verify_key(key["key"])
        assert info is not None and (info.role, info.name) == ("admin", "ci")

    revoked = run_cli(world, "keys", "revoke", key["key_id"])
    assert revoked.returncode == 0 and key["key_id"] in revoked.stdout
    listed = run_cli(world, "keys", "list", "--all", "--json")
    entry = next(k for k in json.loads(listed.stdout) if k["key_id"] == key["key_id"])
    assert entry["revoked_at"] is not None and "key" not in entry

    unknown = run_cli(world, "keys", "revoke", "000000000000")
    assert unknown.returncode == 1
    assert len(unknown.stderr.strip().splitlines()) == 1 and "keys list" in unknown.stderr
