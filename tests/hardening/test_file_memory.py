"""Uploads and downloads of large files go through the gateway in pieces, never whole in
its memory (a `lockgate serve` child; its peak RSS, ``VmHWM``, is the measure).

Before: an upload was read whole into memory and written to disk on the event loop, and a
download read whole (``Path.read_bytes``): three concurrent 150 MB uploads took the
process from 102 to 552 MiB and stalled another tenant's requests for up to 1 s. One key
with a few concurrent uploads could push the process every tenant shares out of memory.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import yaml
from tests.conftest import free_port
from tests.e2e.conftest import model_list
from tests.fakes import ThreadedFake
from tests.live_server import spawn_serve, stopped_on_exit, wait_ok
from tests.support import MASTER, bearer

MIB = 1 << 20
SIZE = 48 * MIB
UPLOADS = 3


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_concurrent_large_uploads_and_downloads_stay_out_of_memory(
    tmp_path: Path, fake: ThreadedFake
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": model_list(fake),
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                },
                "batches": {"max_file_bytes": 64 * MIB},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    line = json.dumps({"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"})
    data = ((line + "\n") * (SIZE // (len(line) + 1))).encode()
    with stopped_on_exit(spawn_serve(config, port, tmp_path / "gw.log")) as proc:
        wait_ok(url, "/health", proc=proc, log=tmp_path / "gw.log")
        key = httpx.post(
            url + "/admin/keys", json={"name": "big"}, headers=bearer(), timeout=60
        ).json()["key"]
        client = httpx.Client(base_url=url, headers=bearer(key), timeout=300)
        with client:
            client.get("/v1/files").raise_for_status()  # warm: the route's imports are loaded
            before = _peak_rss(proc.pid)
            ids: list[str] = []
            errors: list[BaseException] = []

            def upload() -> None:
                try:
                    r = client.post(
                        "/v1/files", files={"file": ("big.jsonl", data)}, data={"purpose": "batch"}
                    )
                    r.raise_for_status()
                    ids.append(r.json()["id"])
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=upload) for _ in range(UPLOADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert not errors and len(ids) == UPLOADS, errors
            for fid in ids:
                got = 0
                with client.stream("GET", f"/v1/files/{fid}/content") as r:
                    r.raise_for_status()
                    for piece in r.iter_bytes():
                        got += len(piece)
                assert got == len(data)
            grew = _peak_rss(proc.pid) - before
    # three uploads held whole would add >= 3 x 48 MiB; in pieces, less than one file
    assert grew < SIZE, f"peak RSS grew {grew / MIB:.1f} MiB"
