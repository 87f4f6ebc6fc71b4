"""`registry up` started as a user starts it, for the tests that need the whole system."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from registry.testing.ports import free_port


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else "stopped"
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("registry up did not answer")


@contextmanager
def running_registry_up(
    data_dir: Path, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`registry up` on `data_dir`, with no REGISTRY_* variables; stopped gently (SIGTERM,
    then SIGKILL after 30 s) at the end.

    Its output goes to `log`, or else to a pipe the caller must keep reading: a full pipe
    would stop the server at its next log line.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=log.open("w") if log else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
