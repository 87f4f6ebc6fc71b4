"""Celery workers that run conversion jobs."""
