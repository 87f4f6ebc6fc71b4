"""The Celery app, configured from the registry's Settings.

Built by whoever needs one: the job queue (to send) and `workers.tasks` (the worker's own,
from the environment). Importing this module builds nothing.
"""

from __future__ import annotations

from celery import Celery, signals
from kombu.transport import sqlalchemy as sqla_transport

from registry.logs import configure_logging
from registry.settings import Settings

# Every wait on the broker has a bound: a dead Redis fails a connect or a read within these.
BROKER_SOCKET_TIMEOUT_SECONDS = 5.0


def make_celery(settings: Settings) -> Celery:
    broker = prepared_broker_url(settings)
    app = Celery("registry", broker=broker, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=BROKER_SOCKET_TIMEOUT_SECONDS,
        broker_transport_options={
            # Above the longest job, so Redis does not redeliver a job that is still running.
            "visibility_timeout": settings.job_timeout_seconds * 2,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        }
        if broker.startswith("redis")
        else {},
        worker_hijack_root_logger=False,
    )
    return app


def prepared_broker_url(settings: Settings) -> str:
    broker = settings.effective_broker_url
    if broker.startswith("sqla+sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The server-less broker polls once a second by default; its transport options go to
        # create_engine, so the interval can only be set on the channel class.
        sqla_transport.Channel.polling_interval = 0.05
    return broker


@signals.setup_logging.connect
def _log_json(loglevel=None, **_kwargs) -> None:
    # Answering this signal keeps Celery from installing its own text handlers: the worker's
    # and its tasks' records go out as the registry's JSON lines.
    configure_logging(Settings.from_env().log_level)
