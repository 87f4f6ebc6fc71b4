"""HTTP only: blueprints, request parsing, response shaping, problem+json."""

from __future__ import annotations

from flask import Flask, current_app

from registry.services import Services


def services() -> Services:
    return current_app.extensions["registry"]


def register(app: Flask) -> None:
    from registry.api import health, models, versions
    from registry.api.problems import register_problem_handlers

    app.register_blueprint(health.blueprint)
    app.register_blueprint(models.blueprint)
    app.register_blueprint(versions.blueprint)
    register_problem_handlers(app)
