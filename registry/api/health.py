"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from registry.api import services, shapes
from registry.api.problems import problem
from registry.storage import StorageError

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    """Liveness: the API process answers.
    ---
    get:
      responses:
        200:
          description: The process is up.
          content:
            application/json:
              schema: Health
    """
    return jsonify(shapes.dump(shapes.Health, {"status": "ok"}))


@blueprint.get("/readyz")
def readyz():
    """Ready when the database, the artifact storage and the job broker all answer.
    ---
    get:
      responses:
        200:
          description: Every part answers.
          content:
            application/json:
              schema: Readiness
        503: Unavailable
    """
    svc = services()
    failures = []
    try:
        with svc.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to answer means not ready
        failures.append(f"database: {type(error).__name__}")
    try:
        svc.storage.check()
    except StorageError as error:
        failures.append(f"storage: {error}")
    try:
        svc.job_queue.check()
    except Exception as error:  # kombu raises per transport; any failure means not ready
        failures.append(f"broker: {error}")
    if failures:
        return problem(503, "Not ready", "; ".join(failures), retry_after=5)
    return jsonify(
        shapes.dump(
            shapes.Readiness, {"status": "ready", "database": "ok", "storage": "ok", "broker": "ok"}
        )
    )
