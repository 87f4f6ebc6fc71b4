"""The Celery app, configured from the registry's Settings."""

from __future__ import annotations

from celery import Celery
from kombu.transport import sqlalchemy as sqla_transport

from registry.settings import Settings


def make_celery(settings: Settings) -> Celery:
    broker = settings.effective_broker_url
    if broker.startswith("sqla+sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The server-less broker polls once a second by default; its transport options go to
        # create_engine, so the interval can only be set on the channel class.
        sqla_transport.Channel.polling_interval = 0.05
    app = Celery("registry", broker=broker, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Above the longest job, so Redis does not redeliver a job that is still running.
        broker_transport_options={
            "visibility_timeout": settings.job_timeout_seconds * 2,
        }
        if broker.startswith("redis")
        else {},
        worker_hijack_root_logger=False,
    )
    return app


app = make_celery(Settings.from_env())
