"""How models, versions, artifacts and jobs look in JSON responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from registry.db.models import Alias, Artifact, ConversionJob, Model, ModelVersion
from registry.domain.ledger.audit import iso_time


def _time(value: datetime | None) -> str | None:
    """UTC, one spelling for every backend (SQLite hands datetimes back without a zone)."""
    return iso_time(value) if value else None


def model_shape(model: Model, latest: ModelVersion | None = None) -> dict[str, Any]:
    return {
        "name": model.name,
        "description": model.description,
        "tags": model.tags,
        "created_at": _time(model.created_at),
        "created_by": model.created_by,
        "aliases": {alias.name: alias.version.number for alias in model.aliases},
        "latest_version": latest.number if latest else None,
    }


def version_shape(version: ModelVersion) -> dict[str, Any]:
    return {
        "model": version.model.name,
        "version": version.number,
        "status": version.status,
        "status_detail": version.status_detail,
        "source_kind": version.source_kind,
        "source_filename": version.source_filename,
        "signature": version.signature,
        "options": version.options,
        "tags": version.tags,
        "aliases": sorted(a.name for a in version.model.aliases if a.version_id == version.id),
        "created_at": _time(version.created_at),
        "created_by": version.created_by,
        "artifacts": [artifact_shape(version, a) for a in version.artifacts],
        "jobs": [job_shape(job) for job in version.jobs],
    }


def artifact_shape(version: ModelVersion, artifact: Artifact) -> dict[str, Any]:
    return {
        "kind": artifact.kind,
        "sha256": artifact.sha256,
        "size": artifact.size,
        "packaging": artifact.packaging,
        "filename": artifact.filename,
        "derived_from": artifact.parent.kind if artifact.parent else None,
        "job_id": artifact.job_id,
        "facts": artifact.facts,
        "parity": artifact.parity,
        "parity_passed": artifact.parity_passed,
        "download_url": url_for(
            "versions.download_artifact",
            name=version.model.name,
            ref=str(version.number),
            kind=artifact.kind,
            _external=True,
        ),
    }


def job_shape(job: ConversionJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "target": job.target_kind,
        "status": job.status,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "outcome": job.outcome,
    }


def alias_shape(alias: Alias) -> dict[str, Any]:
    return {
        "model": alias.model.name,
        "alias": alias.name,
        "version": alias.version.number,
        "updated_at": _time(alias.updated_at),
        "updated_by": alias.updated_by,
    }
