"""Deleting versions and models, by hand or by retention: rows are marked, never removed.

A deleted version keeps its row, number, artifacts and jobs, so the audit log and every
lineage stay whole and numbers are never handed out again; it is no longer listed, resolved
or served (410). Its bytes stay in storage until `registry gc` finds nothing live needs them.
Nothing an alias points at is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Model, ModelVersion, utcnow
from registry.domain.catalog import models as catalog
from registry.domain.catalog.aliases import locked_model
from registry.domain.ledger import audit
from registry.errors import Conflict


class StillAliased(Conflict):
    """Aliases point at what was to be deleted; `aliases` names them."""

    title = "Aliases point at it"

    def __init__(self, detail: str, aliases: dict[str, int]) -> None:
        super().__init__(detail)
        self.extra = {"aliases": aliases}


@dataclass(frozen=True)
class Deletion:
    """What one deletion marked: a model's versions (all of them, for a model)."""

    model: str
    versions: list[int]
    deleted_at: datetime
    deleted_by: str
    model_deleted: bool = False


def delete_version(session: Session, model_name: str, ref: str, actor: str) -> Deletion:
    """Mark one version deleted; refused while an alias points at it."""
    model = locked_model(session, model_name)
    version = catalog.resolve_version(session, model, ref)
    held = aliases_of(model, version)
    if held:
        raise StillAliased(
            f"version {version.number} of {model.name!r} is what {_listed(held)} "
            f"point{'s' if len(held) == 1 else ''} at: move or remove "
            f"{'it' if len(held) == 1 else 'them'} first",
            held,
        )
    _mark(session, version, actor, reason="requested")
    return Deletion(model.name, [version.number], version.deleted_at, actor)


def delete_model(session: Session, model_name: str, actor: str) -> Deletion:
    """Mark a model and all its versions deleted; refused while it has aliases."""
    model = locked_model(session, model_name)
    held = aliases_of(model)
    if held:
        raise StillAliased(
            f"model {model.name!r} has aliases ({_listed(held)}): remove them first", held
        )
    versions = live_versions(session, model)
    now = utcnow()
    for version in versions:
        version.deleted_at, version.deleted_by = now, actor
    model.deleted_at, model.deleted_by = now, actor
    model.tag_index.clear()  # a deleted model is never found by its tags
    session.flush()
    numbers = [version.number for version in versions]
    audit.record(
        session,
        actor,
        "model.deleted",
        audit.model_subject(model.name),
        model=model.name,
        details={"versions": numbers},
    )
    return Deletion(model.name, numbers, now, actor, model_deleted=True)


def versions_beyond(session: Session, keep_last: int) -> list[ModelVersion]:
    """Versions retention would delete: beyond the newest `keep_last` of each model, unaliased."""
    return [
        version
        for model in session.scalars(select(Model).where(Model.deleted_at.is_(None)))
        for version in _beyond(session, model, keep_last)
    ]


def apply_retention(session: Session, keep_last: int, actor: str) -> list[Deletion]:
    """Delete the versions `versions_beyond` names, each model's under its row lock."""
    deletions = []
    names = session.scalars(select(Model.name).where(Model.deleted_at.is_(None))).all()
    for name in names:
        model = locked_model(session, name)
        for version in _beyond(session, model, keep_last):
            _mark(session, version, actor, reason=f"retention: keep the last {keep_last}")
            deletions.append(Deletion(name, [version.number], version.deleted_at, actor))
    return deletions


def _beyond(session: Session, model: Model, keep_last: int) -> list[ModelVersion]:
    older = live_versions(session, model)[:-keep_last] if keep_last else []
    return [version for version in older if not aliases_of(model, version)]


def live_versions(session: Session, model: Model) -> list[ModelVersion]:
    """A model's versions not deleted, oldest first."""
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id, ModelVersion.deleted_at.is_(None))
            .order_by(ModelVersion.number)
        )
    )


def aliases_of(model: Model, version: ModelVersion | None = None) -> dict[str, int]:
    """The model's aliases (those at `version`, if given), each with its version number."""
    return {
        alias.name: alias.version.number
        for alias in model.aliases
        if version is None or alias.version_id == version.id
    }


def _mark(session: Session, version: ModelVersion, actor: str, *, reason: str) -> None:
    version.deleted_at, version.deleted_by = utcnow(), actor
    session.flush()
    audit.record(
        session,
        actor,
        "version.deleted",
        audit.version_subject(version.model.name, version.number),
        model=version.model.name,
        details={
            "reason": reason,
            "status": version.status,
            "artifacts": {artifact.kind: artifact.sha256 for artifact in version.artifacts},
        },
    )


def _listed(aliases: dict[str, int]) -> str:
    return ", ".join(f"{name} -> {number}" for name, number in sorted(aliases.items()))
