"""API keys: who may predict, who may deploy, and when the server refuses to start without keys."""

from __future__ import annotations

from typing import Any

import pytest
from _serve_helpers import Server, World, rows_of, run_cli, wait_for
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.exceptions import ConfigError
from modelcycle.serve import is_loopback, plan


@pytest.fixture(scope="module")
def keys(world: World) -> dict[str, str]:
    with world.store() as store:
        return {"predict": store.create_key("predict", "app"), "admin": store.create_key("admin")}


@pytest.fixture(scope="module")
def server(
    world: World,
    start_server: Any,
    keys: dict[str, str],
    electricity: Table,
    elec_logreg: Pipeline,
    elec_tree: Pipeline,
) -> Server:
    world.register("elec", elec_logreg, electricity, alias="production")
    world.register("elec", elec_tree, electricity)
    return start_server("--require-keys", "--no-log")  # type: ignore[no-any-return]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_predict_needs_a_valid_key(
    server: Server, keys: dict[str, str], electricity: Table
) -> None:
    rows = rows_of(electricity, 1)
    missing = server.predict("elec", rows)
    assert missing.status_code == 401 and missing.json()["error"] == "missing_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = server.predict("elec", rows, headers=_bearer(keys["predict"][:-2] + "xx"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_key"
    scheme = server.predict("elec", rows, headers={"Authorization": keys["predict"]})
    assert scheme.status_code == 401 and scheme.json()["field"] == "Authorization"
    assert server.predict("elec", rows, headers=_bearer(keys["predict"])).status_code == 200
    assert server.predict("elec", rows, headers={"X-API-Key": keys["admin"]}).status_code == 200
    assert server.client.get("/v1/models").status_code == 401
    assert server.client.get("/v1/models", headers=_bearer(keys["predict"])).status_code == 200
    assert server.client.get("/healthz").status_code == 200  # probes stay open


def test_admin_routes_need_an_admin_key(
    server: Server, world: World, keys: dict[str, str], electricity: Table
) -> None:
    url = "/v1/models/elec/deploy"
    assert server.client.post(url, json={"version": 2}).status_code == 401
    forbidden = server.client.post(url, json={"version": 2}, headers=_bearer(keys["predict"]))
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"

    admin = _bearer(keys["admin"])
    moved = server.client.post(url, json={"version": 2, "reason": "better"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert moved.json()["previous_version"] == 1 and moved.json()["actor"].startswith("key:")
    rows = rows_of(electricity, 1)
    served = server.predict("elec", rows, headers=admin).json()
    assert served["version"] == 2  # this worker follows at once
    unknown = server.client.post(url, json={"version": 9}, headers=admin)
    assert unknown.status_code == 404
    back = server.client.post("/v1/models/elec/rollback", json={}, headers=admin)
    assert (back.status_code, back.json()["version"], back.json()["action"]) == (
        200,
        1,
        "rollback",
    )
    with world.store() as store:
        assert [d.action for d in store.deployment_history("elec")] == ["deploy", "rollback"]
    again = server.client.post("/v1/models/elec/rollback", json={}, headers=admin)
    assert again.status_code == 409, again.text  # nothing earlier to return to


def test_revoked_key_stops_working(server: Server, world: World, electricity: Table) -> None:
    with world.store() as store:
        key = store.create_key("predict", "temporary")
    rows = rows_of(electricity, 1)
    assert server.predict("elec", rows, headers=_bearer(key)).status_code == 200
    with world.store() as store:
        store.revoke_key(key)
    wait_for(lambda: server.predict("elec", rows, headers=_bearer(key)).status_code == 401)


def test_refuses_to_start_without_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = World(tmp_path_factory.mktemp("no-keys"))
    outside = run_cli(empty, "serve", "--host", "0.0.0.0", "--port", "8999")
    assert outside.returncode == 1
    lines = outside.stderr.strip().splitlines()
    assert len(lines) == 1 and "requires API keys" in lines[0] and "--insecure" in lines[0]
    with pytest.raises(ConfigError, match="contradict"):
        plan(insecure=True, require_keys=True)
    assert is_loopback("::1") and not is_loopback("10.0.0.1") and not is_loopback("example.org")
