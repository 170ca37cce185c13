"""Several processes share one metadata store and one log folder, as server replicas do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelcycle.store import LogReader, MetadataStore

REPLICA = Path(__file__).with_name("_replica.py")
REQUESTS = 60


def test_two_processes_share_a_store_and_a_log_folder(store_uri: str, tmp_path: Path) -> None:
    logs, go = tmp_path / "logs", tmp_path / "go"
    # Separate interpreters (not forks): no inherited threads, locks or connections.
    replicas = [
        subprocess.Popen(
            [sys.executable, str(REPLICA), store_uri, str(logs), str(w), str(REQUESTS), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    try:
        for replica in replicas:
            assert replica.stdout is not None
            assert replica.stdout.readline().strip() == "ready", replica.communicate()[1]
        go.touch()  # both now open the store, with no tables yet, at the same moment
        results = [replica.communicate(timeout=120) for replica in replicas]
    finally:
        for replica in replicas:
            replica.kill()
    assert [r.returncode for r in replicas] == [0, 0], [err for _, err in results]
    writer_ids = {out.strip() for out, _ in results}
    assert len(writer_ids) == 2

    with MetadataStore(store_uri) as store:
        assert sorted(e.details["worker"] for e in store.events("shared")) == [0, 1]
        assert len(store.metrics("shared")) == 2 * REQUESTS // 10

    files = sorted(logs.rglob("*.parquet"))
    assert {next(w for w in writer_ids if f.name.startswith(f"part-{w}-")) for f in files} == (
        writer_ids
    )
    reader = LogReader(logs)
    frame = reader.predictions("shared")
    assert len(frame) == 2 * REQUESTS * 2
    assert not frame.duplicated(["request_id", "row"]).any()
    joined = reader.joined("shared")
    assert len(joined) == 2 * (REQUESTS // 10) * 2
    assert (joined["actual"] == 1 - joined["row"]).all()
