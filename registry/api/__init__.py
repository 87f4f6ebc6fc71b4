"""HTTP only: blueprints, request parsing, response shaping, problem+json."""

from __future__ import annotations

from flask import Flask, current_app

from registry.services import Services


def services() -> Services:
    return current_app.extensions["registry"]


def register(app: Flask) -> None:
    from registry.api import (
        answers,
        audit,
        auth,
        compatibility,
        direct_uploads,
        docs,
        health,
        lineage,
        models,
        serving,
        tokens,
        unit_of_work,
        versions,
        webhooks,
    )
    from registry.api.metrics import install_metrics
    from registry.api.multipart import bound_idle_clients
    from registry.api.observation import observe_requests
    from registry.api.problems import register_problem_handlers

    app.json = answers.FastJSON(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(models.blueprint)
    app.register_blueprint(versions.blueprint)
    app.register_blueprint(compatibility.blueprint)
    app.register_blueprint(direct_uploads.blueprint)
    app.register_blueprint(serving.blueprint)
    app.register_blueprint(lineage.blueprint)
    app.register_blueprint(audit.blueprint)
    app.register_blueprint(tokens.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(docs.blueprint)
    register_problem_handlers(app)
    bound_idle_clients(app, app.extensions["registry"].settings.client_idle_timeout_seconds)
    install_metrics(app)
    observe_requests(app)
    # Last, so the request is already observed (id, metrics) when a token is refused.
    auth.install(app)
    # Registered last, so its after-request runs first: a failed commit still gets observed.
    unit_of_work.install(app)
