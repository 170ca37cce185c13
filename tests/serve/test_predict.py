"""Predictions over HTTP from a real server process: formats, answers, and every bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from _serve_helpers import Server, World, rows_of, wait_for
from sklearn.pipeline import Pipeline

from modelcycle.data import Table

MAX_ROWS = 50
MAX_BYTES = 20_000


@pytest.fixture(scope="module")
def server(
    world: World,
    start_server: Any,
    electricity: Table,
    elec_logreg: Pipeline,
    elec_tree: Pipeline,
    adult: Table,
    adult_pipeline: Pipeline,
) -> Server:
    world.register("elec", elec_logreg, electricity, alias="production")
    world.register("elec", elec_tree, electricity, alias="challenger")
    world.register("adult", adult_pipeline, adult, alias="production")
    return start_server(  # type: ignore[no-any-return]
        "--alias",
        "production",
        "--alias",
        "challenger",
        "--max-batch-rows",
        str(MAX_ROWS),
        "--max-body-bytes",
        str(MAX_BYTES),
    )


def test_single_row_and_batch(server: Server, electricity: Table, elec_logreg: Pipeline) -> None:
    one = server.predict("elec", rows_of(electricity, 1))
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["model"] == "elec" and body["version"] == 1 and body["alias"] == "production"
    assert body["request_id"] == one.headers["x-request-id"]
    expected = elec_logreg.predict(electricity.X.head(1)).tolist()
    assert body["predictions"] == expected
    assert set(body["probabilities"][0]) == {"0", "1"}

    batch = server.predict("elec", rows_of(electricity, 40))
    assert batch.status_code == 200, batch.text
    X = electricity.X.head(40)
    assert batch.json()["predictions"] == elec_logreg.predict(X).tolist()
    probabilities = [[p["0"], p["1"]] for p in batch.json()["probabilities"]]
    np.testing.assert_allclose(probabilities, elec_logreg.predict_proba(X), rtol=1e-9)


def _formats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(rows[0])
    by_column = {c: [r[c] for r in rows] for c in columns}
    return {
        "inputs-records": {"inputs": rows},
        "inputs-columns": {"inputs": by_column},
        "dataframe_records": {"dataframe_records": rows},
        "dataframe_split": {
            "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}
        },
        "instances": {"instances": rows},
        "instances-columns": {"instances": by_column, "params": {"ignored": True}},
    }


@pytest.mark.parametrize("fmt", list(_formats([{"x": 1}])))
def test_every_mlflow_format(
    server: Server, adult: Table, adult_pipeline: Pipeline, fmt: str
) -> None:
    rows = rows_of(adult, 7, start=100)  # mixed kinds, with missing values
    response = server.client.post("/v1/models/adult/predict", json=_formats(rows)[fmt])
    assert response.status_code == 200, response.text
    expected = adult_pipeline.predict(adult.X.iloc[100:107]).tolist()
    assert response.json()["predictions"] == expected


def test_alias_version_and_request_id(server: Server, electricity: Table) -> None:
    rows = rows_of(electricity, 3)
    challenger = server.predict("elec@challenger", rows)
    assert challenger.status_code == 200, challenger.text
    assert (challenger.json()["version"], challenger.json()["alias"]) == (2, "challenger")
    pinned = server.client.post("/v1/models/elec/versions/1/predict", json={"inputs": rows})
    assert (pinned.json()["version"], pinned.json()["alias"]) == (1, None)
    traced = server.predict("elec", rows, headers={"X-Request-ID": "order-42"})
    assert traced.json()["request_id"] == "order-42"
    assert traced.headers["x-request-id"] == "order-42"


def test_models_health_metrics_and_docs(server: Server) -> None:
    listed = server.client.get("/v1/models").json()
    assert [m["name"] for m in listed["models"]] == ["adult", "elec"]
    shown = server.client.get("/v1/models/elec").json()
    states = {d["alias"]: (d["state"], d["version"], d["error"]) for d in shown["deployments"]}
    assert states == {"challenger": ("loaded", 2, None), "production": ("loaded", 1, None)}
    assert shown["inputs"][0] == {"name": "period", "type": "number", "required": True}
    paths = {d["alias"]: d["inference"]["path"] for d in shown["deployments"]}
    # The scaled logistic regression compiles; the tree was fitted on named columns, so it is
    # served by its pipeline (which says why).
    assert paths == {"production": "compiled", "challenger": "pipeline"}
    production = next(d for d in shown["deployments"] if d["alias"] == "production")
    assert production["inference"]["verified_rows"] > 0
    assert production["inference"]["max_abs_diff"] <= 1e-9
    assert server.client.get("/healthz").json() == {"status": "ok"}
    assert server.client.get("/readyz").json()["ready"] is True
    assert server.client.get("/docs").status_code == 200
    spec = server.client.get("/openapi.json").json()
    assert "/v1/models/{name}/predict" in spec["paths"]
    server.predict("elec", [{"period": 1}])  # one refused request, counted too
    text = server.client.get("/metrics").text
    assert 'modelcycle_requests_total{model="elec",status="200",version="1"}' in text
    assert 'modelcycle_requests_total{model="elec",status="422",version="1"}' in text
    assert "modelcycle_request_latency_seconds_bucket" in text
    assert 'modelcycle_rows_predicted_total{model="elec",version="1"}' in text
    assert "modelcycle_log_rows_dropped_total 0.0" in text


def test_feedback(server: Server, world: World, electricity: Table) -> None:
    answer = server.predict("elec", rows_of(electricity, 2)).json()
    items = [{"request_id": answer["request_id"], "row": r, "actual": r} for r in (0, 1)]
    accepted = server.client.post("/v1/models/elec/feedback", json={"feedback": items})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == 2
    unknown = server.client.post("/v1/models/nope/feedback", json={"feedback": items})
    assert unknown.status_code == 404
    bad = server.client.post("/v1/models/elec/feedback", json={"feedback": [{"row": 0}]})
    assert bad.status_code == 422 and bad.json()["field"] == "feedback.0.request_id"


ROW = {
    "period": 0.1,
    "nswprice": 0.05,
    "nswdemand": 0.4,
    "vicprice": 0.003,
    "vicdemand": 0.42,
    "transfer": 0.41,
}

BAD_INPUTS = [
    # id, path, body (bytes or JSON), status, error, field
    (
        "missing-column",
        "elec",
        {"inputs": [{k: v for k, v in ROW.items() if k != "transfer"}]},
        422,
        "missing_column",
        "transfer",
    ),
    (
        "misspelt-column",
        "elec",
        {"inputs": [{**{k: v for k, v in ROW.items() if k != "transfer"}, "transfr": 1}]},
        422,
        "missing_column",
        "transfer",
    ),
    (
        "wrong-type",
        "elec",
        {"inputs": [{**ROW, "nswprice": {"a": 1}}]},
        422,
        "wrong_type",
        "nswprice",
    ),
    (
        "boolean-in-number",
        "elec",
        {"inputs": [{**ROW, "nswprice": True}]},
        422,
        "wrong_type",
        "nswprice",
    ),
    (
        "non-numeric-string",
        "elec",
        {"inputs": [ROW, {**ROW, "vicprice": "cheap"}]},
        422,
        "not_a_number",
        "vicprice",
    ),
    ("list-in-category", "adult", {"inputs": [{"workclass": ["a"]}]}, 422, None, None),
    ("unknown-model", "nope", {"inputs": [ROW]}, 404, "model_not_found", "name"),
    ("unknown-alias", "elec@staging", {"inputs": [ROW]}, 404, "alias_not_served", "alias"),
    ("malformed-json", "elec", b'{"inputs": [', 400, "malformed_json", None),
    ("empty-body", "elec", b"", 400, "empty_body", None),
    ("not-an-object", "elec", [ROW], 422, "invalid_body", None),
    ("no-rows-key", "elec", {"rows": [ROW]}, 422, "unknown_key", "rows"),
    ("two-formats", "elec", {"inputs": [ROW], "instances": [ROW]}, 422, "invalid_body", None),
    ("empty-batch", "elec", {"inputs": []}, 422, "empty_batch", None),
    ("row-not-object", "elec", {"inputs": [[1, 2]]}, 422, "invalid_row", "inputs[0]"),
    (
        "ragged-split",
        "elec",
        {"dataframe_split": {"columns": ["period"], "data": [[1, 2]]}},
        422,
        "invalid_row",
        "dataframe_split.data[0]",
    ),
    ("batch-over-limit", "elec", {"inputs": [ROW] * (MAX_ROWS + 1)}, 413, "batch_too_large", None),
    (
        "body-over-limit",
        "elec",
        {"inputs": [ROW], "params": {"pad": "x" * MAX_BYTES}},
        413,
        "body_too_large",
        "Content-Length",
    ),
    ("model-raises", "elec", {"inputs": [{**ROW, "nswprice": "inf"}]}, 422, "model_error", None),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_inputs_get_4xx_naming_the_field(
    server: Server, path: str, body: Any, status: int, error: str | None, field: str | None
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = server.client.post(
        f"/v1/models/{path}/predict",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    answer = response.json()
    if error is not None:
        assert answer["error"] == error, answer
    if field is not None:
        assert answer["field"] == field, answer
    assert answer["message"].endswith("."), answer  # a sentence with the fix, not a traceback
    if status != 413:
        assert answer["request_id"] == response.headers["x-request-id"]


def test_more_bad_requests(server: Server) -> None:
    url = "/v1/models/elec/predict"
    form = server.client.post(url, content=b"a=1", headers={"Content-Type": "text/csv"})
    assert (form.status_code, form.json()["field"]) == (415, "Content-Type")
    bad_id = server.client.post(url, json={"inputs": [ROW]}, headers={"X-Request-ID": "a b"})
    assert (bad_id.status_code, bad_id.json()["field"]) == (400, "X-Request-ID")
    version = server.client.post("/v1/models/elec/versions/x/predict", json={"inputs": [ROW]})
    assert (version.status_code, version.json()["field"]) == (422, "version")
    missing = server.client.post("/v1/models/elec/versions/9/predict", json={"inputs": [ROW]})
    assert (missing.status_code, missing.json()["error"]) == (404, "version_not_found")
    route = server.client.get("/v1/nothing")
    assert (route.status_code, route.json()["error"]) == (404, "not_found")
    method = server.client.get(url)
    assert method.status_code == 405
    admin = server.client.post("/v1/models/elec/deploy", json={"version": 2})
    assert (admin.status_code, admin.json()["error"]) == (403, "admin_needs_keys")

    def chunks() -> Any:  # no Content-Length: the limit is counted as the body streams
        yield b'{"inputs": ['
        for _ in range(MAX_BYTES // 100 + 1):
            yield orjson.dumps(ROW) + b","
        yield b"{}]}"

    streamed = server.client.post(
        url, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text


def test_optional_columns_may_be_null_or_absent(server: Server, adult: Table) -> None:
    row = rows_of(adult, 1)[0]
    row["workclass"] = None  # had missing values in training: optional
    assert server.predict("adult", [row]).status_code == 200
    del row["workclass"]
    assert server.predict("adult", [row]).status_code == 200
    del row["age"]
    refused = server.predict("adult", [row])
    assert (refused.status_code, refused.json()["field"]) == (422, "age")


def test_prediction_log_records_requests(server: Server, world: World) -> None:
    from modelcycle.store import LogReader

    answer = server.predict("elec", [ROW], headers={"X-Request-ID": "logged-1"}).json()
    reader = LogReader(world.log_dir)

    def logged() -> Any:
        frame = reader.predictions("elec")
        return frame[frame["request_id"] == "logged-1"]

    # The writer flushes every 5 s by default.
    found = wait_for(lambda: len(logged()) == 1, timeout=30) and logged()
    assert found["version"].tolist() == ["1"]
    assert found[list(ROW)].iloc[0].to_dict() == ROW
    assert orjson.loads(found["outputs"].iloc[0])["prediction"] == answer["predictions"][0]
