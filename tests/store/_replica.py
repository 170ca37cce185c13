"""A server replica in miniature, run as a separate process by test_shared_by_processes.

Usage: python _replica.py STORE_URI LOG_DIR WORKER REQUESTS GO_FILE

Prints "ready" once imported, waits for GO_FILE to appear (so that replicas touch the store for the
first time together), then records events and metrics, logs traffic, and prints its writer id.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from modelcycle.store import LogWriter, MetadataStore


def main(store_uri: str, log_dir: str, worker: int, requests: int, go: Path) -> None:
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the test never said go")
        time.sleep(0.001)
    with MetadataStore(store_uri) as store:
        store.record_event("start", "shared", details={"worker": worker})
        writer = LogWriter(log_dir, flush_rows=7, flush_interval=60)
        for i in range(requests):
            request = f"w{worker}-{i}"
            writer.log_prediction(
                "shared", "1", "production", request, [{"x": i}, {"x": -i}], [1, 0], 1.0
            )
            if i % 10 == 0:
                writer.log_feedback("shared", request, [1, 0])
                now = datetime.now(UTC)
                store.record_metric("shared", "1", f"w{worker}", i, now, now)
        writer.close()
    print(writer.writer_id, flush=True)


if __name__ == "__main__":
    uri, folder, worker, requests, go = sys.argv[1:]
    main(uri, folder, int(worker), int(requests), Path(go))
