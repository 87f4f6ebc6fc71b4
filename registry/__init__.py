"""A TensorFlow model registry: versioned uploads, verified conversions, export lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from registry.settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None, services=None) -> Flask:
    """The Flask app. Refuses to start on a database schema that is behind the code."""
    from flask import Flask

    from registry import api, web
    from registry.db import check_schema
    from registry.settings import Settings
    from registry.wiring import build_services

    settings = settings or Settings.from_env()
    services = services or build_services(settings)
    check_schema(services.engine)
    app = Flask(__name__)
    app.extensions["registry"] = services
    api.register(app)
    web.register(app)
    return app
