"""The job queue the registry sends conversion jobs through: Celery, on the configured broker."""

from __future__ import annotations

import logging
import os

from celery import Celery
from kombu import Connection

from registry.settings import Settings
from workers.celery_app import make_celery, prepared_broker_url

log = logging.getLogger(__name__)

RUN_CONVERSION = "workers.tasks.run_conversion"
DELIVER_WEBHOOK = "workers.tasks.deliver_webhook"
# A broker that does not answer within these is treated as down: the job stays queued in the
# database and the sweep sends it later, so neither an upload nor a worker waits on it.
CONNECT_TIMEOUT_SECONDS = 3.0
PUBLISH_TIMEOUT_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 1.0


class CeleryJobQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._celery = make_celery(settings)
        self._pid = os.getpid()

    @property
    def celery(self) -> Celery:
        """This process's Celery app. Its producers keep their broker connections between
        sends; a forked child (a gunicorn or Celery pool process) builds its own rather than
        share its parent's sockets."""
        if self._pid != os.getpid():
            self._celery, self._pid = make_celery(self.settings), os.getpid()
        return self._celery

    def send(self, job_ids: list[int], request_id: str = "") -> list[int]:
        return self._publish(RUN_CONVERSION, job_ids, request_id)

    def send_deliveries(self, delivery_ids: list[int], request_id: str = "") -> list[int]:
        return self._publish(DELIVER_WEBHOOK, delivery_ids, request_id)

    def _publish(self, task: str, row_ids: list[int], request_id: str) -> list[int]:
        """One message per row id; the ids the broker took."""
        sent = []
        # The task logs under the request id that queued the work, on whichever machine.
        carried = {"request_id": request_id} if request_id else {}
        celery = self.celery
        try:
            # A pooled producer: a new connection per send (connect, PING, declare) cost ten
            # times the send itself.
            pool = celery.producer_pool
            with pool.acquire(block=True, timeout=CONNECT_TIMEOUT_SECONDS) as producer:
                producer.connection.ensure_connection(
                    max_retries=1, timeout=CONNECT_TIMEOUT_SECONDS
                )
                for row_id in row_ids:
                    celery.send_task(
                        task,
                        args=[row_id],
                        kwargs=carried,
                        producer=producer,
                        retry=False,
                        timeout=PUBLISH_TIMEOUT_SECONDS,
                    )
                    sent.append(row_id)
        except Exception as error:  # a broker outage must not fail the upload
            log.warning("broker refused %s %s, the sweep resends them: %s", task, row_ids, error)
        return sent

    def waiting(self) -> int | None:
        """Messages waiting in the broker's queue, or None if the broker did not say."""
        try:
            with self.celery.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT_SECONDS)
                with connection.channel() as channel:
                    try:
                        queue = self.celery.conf.task_default_queue
                        return channel.queue_declare(queue=queue, passive=True).message_count
                    except connection.channel_errors as error:
                        # Redis drops an emptied list; RabbitMQ has no queue before a worker.
                        if "NOT_FOUND" in str(error):
                            return 0
                        raise
        except Exception as error:  # unknown is not empty: nothing is taken for lost
            log.warning("could not count the jobs waiting in the broker: %s", error)
            return None

    def check(self) -> None:
        url = prepared_broker_url(self.settings)
        with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
            # One attempt: readiness is asked again every few seconds anyway, and a probe that
            # waits on retries makes the prober time out instead of hearing which part is down.
            connection.ensure_connection(max_retries=0, timeout=CHECK_TIMEOUT_SECONDS)
