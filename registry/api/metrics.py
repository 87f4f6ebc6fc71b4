"""Prometheus metrics at `/metrics`: HTTP traffic from this API, conversion jobs from the database.

HTTP metrics are counted in the API process. Under gunicorn several worker processes serve
requests; with `PROMETHEUS_MULTIPROC_DIR` set, prometheus-client keeps each process's values
in files in that directory and a scrape sums them (`registry/gunicorn_conf.py` empties it at
start and marks exited workers). Without it, values live in this process's memory.

Job metrics (queue depth, outcomes, conversion durations) are not counted by the workers but
read from the jobs table at scrape time. Workers run on other machines, with no directory in
common with the API and no port a scraper could reach reliably (a worker busy converting for
minutes is also a worker whose exporter may be slow); the jobs table already holds each job's
status, attempts and start/finish times, written in the job's own transaction. Reading it
costs two grouped queries per scrape, and the figures survive worker restarts. Durations are
those of each job's last attempt (a retry restarts the clock); outcomes count jobs, not
attempts, and `registry_conversion_attempts_total` shows the retries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from registry.domain.jobs.statistics import job_statistics

log = logging.getLogger(__name__)

# prometheus-client's own switch, read by the library when it is first imported (before any
# Settings exist), so it is an environment variable of its own rather than a REGISTRY_ one.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Not registered anywhere at creation: each app registers them in its own registry, so tests
# can build several apps in one process, and multiprocess mode can collect them from files.
HTTP_REQUESTS = Counter(
    "registry_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=None,
)
HTTP_REQUEST_DURATION = Histogram(
    "registry_http_request_duration_seconds",
    "Time from receiving a request to sending the last byte of its response.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=None,
)
HTTP_RECEIVED_BYTES = Counter(
    "registry_http_received_bytes",
    "Request body bytes read, by method and route (uploads arrive on POST .../versions).",
    ["method", "route"],
    registry=None,
)
HTTP_SENT_BYTES = Counter(
    "registry_http_sent_bytes",
    "Response body bytes sent, by method and route (downloads go out on .../artifacts/<kind>).",
    ["method", "route"],
    registry=None,
)
HTTP_METRICS = (HTTP_REQUESTS, HTTP_REQUEST_DURATION, HTTP_RECEIVED_BYTES, HTTP_SENT_BYTES)

blueprint = Blueprint("metrics", __name__)


def multiprocess_dir() -> Path | None:
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return Path(directory) if directory else None


def record_request(
    method: str, route: str, status: int, seconds: float, received: int, sent: int
) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_DURATION.labels(method, route, str(status)).observe(seconds)
    if received:
        HTTP_RECEIVED_BYTES.labels(method, route).inc(received)
    if sent:
        HTTP_SENT_BYTES.labels(method, route).inc(sent)


class ConversionJobCollector(Collector):
    """Queue depth, outcomes, attempts and durations of conversion jobs, from the jobs table."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        try:
            with self.sessions() as session:
                stats = job_statistics(session)
        except SQLAlchemyError as error:
            # The HTTP metrics still say something useful while the database is away.
            log.warning("job metrics unavailable: %s", error)
            return
        depth = GaugeMetricFamily(
            "registry_conversion_queue_depth",
            "Conversion jobs waiting for a worker (queued) or being converted (running).",
            labels=["status"],
        )
        for status in ("queued", "running"):
            depth.add_metric([status], stats.queue_depth(status))
        outcomes = CounterMetricFamily(
            "registry_conversion_jobs_finished",
            "Conversion jobs that ended, by target kind and outcome (succeeded or failed).",
            labels=["target", "outcome"],
        )
        attempts = CounterMetricFamily(
            "registry_conversion_attempts",
            "Attempts made by conversion jobs (more than jobs when some were retried).",
            labels=["target"],
        )
        per_target: dict[str, int] = {}
        for (target, status), count in sorted(stats.jobs.items()):
            if status in ("succeeded", "failed"):
                outcomes.add_metric([target, status], count)
            per_target[target] = per_target.get(target, 0) + stats.attempts[(target, status)]
        for target, count in sorted(per_target.items()):
            attempts.add_metric([target], count)
        durations = HistogramMetricFamily(
            "registry_conversion_duration_seconds",
            "Time from a worker claiming a job to the job succeeding, by target kind.",
            labels=["target"],
        )
        for target, histogram in sorted(stats.durations.items()):
            buckets = [(repr(bound), n) for bound, n in histogram.cumulative]
            durations.add_metric(
                [target],
                buckets=[*buckets, ("+Inf", histogram.count)],
                sum_value=histogram.total_seconds,
            )
        yield from (depth, outcomes, attempts, durations)


def install_metrics(app: Flask) -> None:
    """Give the app its `/metrics` endpoint and the registry of metrics it serves."""
    jobs = ConversionJobCollector(app.extensions["registry"].sessions)
    directory = multiprocess_dir()
    if directory is None:
        registry = CollectorRegistry()
        for collector in (*HTTP_METRICS, jobs, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        app.extensions["registry.metrics"] = lambda: registry
    else:
        directory.mkdir(parents=True, exist_ok=True)

        def per_scrape() -> CollectorRegistry:
            # The files other processes keep writing are read afresh at every scrape.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(directory))
            registry.register(jobs)
            return registry

        app.extensions["registry.metrics"] = per_scrape
    app.register_blueprint(blueprint)


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics: HTTP traffic, uploaded/downloaded bytes, conversion jobs.
    ---
    get:
      responses:
        200:
          description: The Prometheus text exposition format.
          content:
            text/plain:
              schema: {type: string}
    """
    registry = current_app.extensions["registry.metrics"]()
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
