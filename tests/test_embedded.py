"""The embedded default: `registry up` on SQLite, a local directory and a server-less broker."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine

from registry import create_app
from registry.db import SchemaOutOfDate
from registry.settings import Settings
from tests.conftest import bearer_session
from tests.servers import free_port, running_registry_up


def line_containing(process: subprocess.Popen, text: str, timeout: float = 30) -> str:
    """The first line of the process's output containing `text` (read in a thread, so a
    missing line fails the test instead of hanging it)."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            if text in line:
                found.put(line)
                return

    threading.Thread(target=read, daemon=True).start()
    return found.get(timeout=timeout)


@pytest.fixture
def registry_up(tmp_path):
    """`registry up` as a user runs it, on a fresh data directory."""
    with running_registry_up(tmp_path / "data") as (url, process):
        yield url, process, tmp_path / "data"


def test_registry_up_converts_an_upload_to_ready_and_stops_cleanly(registry_up, samples, tmp_path):
    url, process, data_dir = registry_up
    http = bearer_session((data_dir / "admin.token").read_text().strip())
    sample = samples["checkpoint"]
    archive = tmp_path / "ckpt.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(sample.path, arcname="ckpt")

    with archive.open("rb") as stream:
        response = http.post(
            f"{url}/api/v1/models/digits/versions",
            files={"file": ("ckpt.tar.gz", stream)},
            data={"output_nodes": ",".join(sample.options["output_nodes"])},
        )
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 180
    while (version := http.get(f"{url}/api/v1/models/digits/versions/latest").json())[
        "status"
    ] not in ("ready", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)

    assert version["status"] == "ready", version["status_detail"]
    tflite = http.get(f"{url}/api/v1/models/digits/versions/1/artifacts/tflite")
    listed = next(a for a in version["artifacts"] if a["kind"] == "tflite")
    assert hashlib.sha256(tflite.content).hexdigest() == listed["sha256"]
    assert (data_dir / "registry.sqlite").exists()

    workers_before = processes_serving(data_dir)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    leftovers = subprocess.run(
        ["pgrep", "-s", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert workers_before, "the worker was not found running"
    assert leftovers == []
    assert processes_serving(data_dir) == []


def processes_serving(data_dir: Path) -> list[int]:
    """Processes started for this data directory (`registry up`'s worker and its children)."""
    marker = f"REGISTRY_DATA_DIR={data_dir}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
    return found


def test_registry_up_prints_the_admin_token_once_and_stores_it_for_the_cli_mode_0600(registry_up):
    url, process, data_dir = registry_up
    stored = data_dir / "admin.token"

    printed = line_containing(process, "admin token").split()[-1]

    assert stored.read_text().strip() == printed
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    models = f"{url}/api/v1/models"
    assert requests.get(models).status_code == 401
    assert requests.get(models, headers={"Authorization": f"Bearer {printed}"}).status_code == 200


def test_second_registry_up_on_the_same_data_dir_says_it_is_in_use(registry_up):
    _, _, data_dir = registry_up

    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "up",
            "--port",
            str(free_port()),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode != 0
    assert "in use" in second.stderr


def test_app_refuses_a_database_whose_schema_is_behind(tmp_path):
    settings = Settings(data_dir=tmp_path)
    create_engine(settings.effective_database_url).connect().close()  # an empty database

    with pytest.raises(SchemaOutOfDate, match="run `registry db upgrade`"):
        create_app(settings)
