"""Where a process's services are put together: the one module of `registry` that imports
`workers`, for the Celery job queue behind the registry's `JobQueue` interface."""

from __future__ import annotations

from registry.services import Services
from registry.settings import Settings


def build_services(settings: Settings) -> Services:
    from workers.dispatch import CeleryJobQueue

    return Services.from_settings(settings, CeleryJobQueue(settings))
