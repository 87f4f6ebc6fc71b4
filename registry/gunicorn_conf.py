"""Gunicorn settings for the API (`gunicorn --config python:registry.gunicorn_conf ...`).

Worker count, threads and timeout stay on the command line (docker-compose.yml), where they
are seen. The listening address is set here so that it can be overridden without editing
the command: gunicorn applies `GUNICORN_CMD_ARGS="--bind=127.0.0.1:9000"` over this file.
"""

from __future__ import annotations

from prometheus_client import multiprocess

from registry.api.metrics import multiprocess_dir
from registry.logs import logging_config
from registry.settings import Settings

bind = "0.0.0.0:8000"
# Every record, gunicorn's own included, as a JSON line on stderr; no access log, since the
# app writes one richer line per request (route, bytes, request id).
logconfig_dict = logging_config(Settings.from_env().log_level)
accesslog = None


def on_starting(_server) -> None:
    """Start the Prometheus files afresh: counts of a previous run's workers are not ours."""
    directory = multiprocess_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        # Only prometheus-client's own files: the directory may hold other things.
        for stale in directory.glob("*.db"):
            stale.unlink()


def child_exit(_server, worker) -> None:
    """A worker that exited stops counting towards live gauges (its counters are kept)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)
