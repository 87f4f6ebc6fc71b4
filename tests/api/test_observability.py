"""Request ids, one JSON log line per request, /metrics, and readiness naming what is down."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta

import requests
from sqlalchemy import select

from registry.db.models import ConversionJob, ModelVersion, utcnow
from registry.logs import JsonFormatter
from tests.conftest import sibling_registry
from tests.files import fake_tflite
from tests.metrics import sample_key, scrape, scrape_until


def test_request_id_from_the_client_is_echoed_and_a_missing_or_odd_one_replaced(registry):
    given = f"trace-{uuid.uuid4().hex}"

    echoed = requests.get(f"{registry.url}/healthz", headers={"X-Request-ID": given})
    made = requests.get(f"{registry.url}/healthz")
    odd = requests.get(f"{registry.url}/healthz", headers={"X-Request-ID": "a b\tc" * 50})

    assert echoed.headers["X-Request-ID"] == given
    assert len(made.headers["X-Request-ID"]) == 32
    assert odd.headers["X-Request-ID"] not in ("", "a b\tc" * 50)


def test_each_request_writes_one_json_line_with_route_status_bytes_and_actor(
    registry, model_name, tmp_path, caplog
):
    model_file = fake_tflite(tmp_path / "model.tflite", size=50_000)
    caplog.set_level(logging.INFO, logger="registry.requests")

    response = registry.upload(model_name, model_file)

    request_id = response.headers["X-Request-ID"]
    lines = _logged_lines(caplog, request_id)
    assert len(lines) == 1
    line = lines[0]
    assert (line["method"], line["route"], line["status"]) == (
        "POST",
        "/api/v1/models/<name>/versions",
        202,
    )
    assert line["path"] == f"/api/v1/models/{model_name}/versions"
    assert line["bytes_received"] > 50_000
    assert line["bytes_sent"] == len(response.content)
    assert line["actor"] == registry.token_name
    assert line["duration_ms"] > 0


def _logged_lines(caplog, request_id: str, timeout: float = 5.0) -> list[dict]:
    """The request's JSON lines; written once the response is sent, so maybe just after."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [
            json.loads(JsonFormatter().format(record))
            for record in caplog.records
            if getattr(record, "request_id", None) == request_id
        ]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_metrics_count_requests_by_route_template_not_by_path(registry, model_name):
    route = sample_key(
        "registry_http_requests_total", method="GET", route="/api/v1/models/<name>", status="404"
    )
    before = scrape(registry.url)

    for _ in range(2):
        assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404
    after = scrape_until(registry.url, lambda s: s.get(route, 0) - before.get(route, 0) >= 2)

    assert after[route] - before.get(route, 0) == 2
    assert not [key for key in after if any(model_name in value for _, value in key[1])]


def test_metrics_read_queue_depth_and_conversion_durations_from_the_jobs_table(
    registry, model_name, tmp_path
):
    # No worker consumes this registry's broker: the upload's describe job stays queued.
    registry.upload(model_name, fake_tflite(tmp_path / "model.tflite")).raise_for_status()
    queued = sample_key("registry_conversion_queue_depth", status="queued")
    finished = sample_key(
        "registry_conversion_jobs_finished_total", target="describe", outcome="succeeded"
    )
    within = {
        bound: sample_key(
            "registry_conversion_duration_seconds_bucket", target="describe", le=bound
        )
        for bound in ("2.5", "5.0")
    }
    before = scrape(registry.url)
    assert before[queued] >= 1

    # Record the job as a worker would have: claimed, then succeeded three seconds later.
    with registry.services.sessions.begin() as session:
        job = session.scalars(
            select(ConversionJob).join(ModelVersion).where(ModelVersion.model.has(name=model_name))
        ).one()
        job.started_at = utcnow() - timedelta(seconds=3)
        job.finished_at = job.started_at + timedelta(seconds=3)
        job.status, job.attempts = "succeeded", 1
    after = scrape(registry.url)

    assert after[queued] == before[queued] - 1
    assert after[finished] - before.get(finished, 0) == 1
    assert after[within["5.0"]] - before.get(within["5.0"], 0) == 1
    assert after[within["2.5"]] == before.get(within["2.5"], 0)


def test_readyz_names_the_broker_when_it_cannot_be_reached(registry):
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    with sibling_registry(registry, broker_url="redis://127.0.0.1:1/0") as unreachable:
        response = requests.get(f"{unreachable.url}/readyz", timeout=10)

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith("broker:")
    assert requests.get(f"{registry.url}/readyz").json()["broker"] == "ok"
