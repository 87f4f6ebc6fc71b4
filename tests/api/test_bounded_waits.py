"""No answer waits without bound: on a locked row, on a broker that never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from tests.conftest import sibling_registry
from tests.files import fake_tflite

LOCK_TIMEOUT_SECONDS = 1


def test_alias_move_blocked_by_a_held_row_lock_answers_503_busy_within_the_lock_timeout(
    registry, model_name, tmp_path
):
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()
    holder = registry.services.engine  # on SQLite its transactions take the write lock
    postgres = holder.dialect.name == "postgresql"
    alias_url = f"/models/{model_name}/aliases/production"
    with sibling_registry(registry, database_lock_timeout_seconds=LOCK_TIMEOUT_SECONDS) as bounded:
        with holder.connect() as connection, connection.begin():
            # A concurrent transaction keeps the model's row locked (alias moves lock it).
            connection.execute(
                text("SELECT id FROM models WHERE name = :name" + (" FOR UPDATE" * postgres)),
                {"name": model_name},
            )
            started = time.monotonic()
            blocked = bounded.http.put(bounded.api(alias_url), json={"version": 1}, timeout=30)
            waited = time.monotonic() - started
        retried = bounded.http.put(bounded.api(alias_url), json={"version": 1}, timeout=30)

    assert blocked.status_code == 503, blocked.text
    assert blocked.json()["title"] == "Database busy"
    assert "concurrent change" in blocked.json()["detail"]
    assert blocked.headers["Retry-After"] == "1"
    assert waited < LOCK_TIMEOUT_SECONDS + 10
    assert retried.status_code == 200, retried.text
    assert registry.http.get(registry.api(f"/models/{model_name}")).json()["aliases"] == {
        "production": 1
    }


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port whose connections are accepted by the kernel and never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def test_upload_answers_at_once_while_the_broker_never_answers(registry, model_name, tmp_path):
    with (
        silent_port() as port,
        sibling_registry(registry, broker_url=f"redis://127.0.0.1:{port}/0") as stalled,
    ):
        started = time.monotonic()
        response = stalled.upload(model_name, fake_tflite(tmp_path / "m.tflite"))
        answered_in = time.monotonic() - started
        version = stalled.version(model_name, 1)

    assert response.status_code == 202, response.text
    # Publishing to this broker would wait out its socket timeout (5 s); the answer does not.
    assert answered_in < 3
    assert [job["status"] for job in version["jobs"]] == ["queued"]
