"""What a finished conversion leaves on record: its variant, and variants reused from earlier."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Artifact, ConversionJob, ModelVersion
from registry.domain.jobs.found_outputs import outputs_to_find, record_found_outputs
from registry.domain.jobs.queue import record_job_event
from registry.domain.ledger.audit import json_native

# What a reusing job takes over from the job that made the bytes.
INHERITED_OUTCOME = ("steps", "options_used", "converter_versions")


def record_variant(
    session: Session,
    job: ConversionJob,
    *,
    source_id: int,
    parity: dict[str, Any],
    signature: dict[str, Any] | None,
    **fields: Any,
) -> Artifact:
    """Insert or replace the version's artifact of the job's kind (a re-run replaces it)."""
    artifact = session.scalar(
        select(Artifact).where(
            Artifact.version_id == job.version_id, Artifact.kind == job.target_kind
        )
    )
    if artifact is None:
        artifact = Artifact(version_id=job.version_id, kind=job.target_kind)
        session.add(artifact)
    for name, value in fields.items():
        setattr(artifact, name, value)
    artifact.parent_id = source_id
    artifact.job_id = job.id
    artifact.created_by = job.created_by
    # NaN outputs give NaN figures, which PostgreSQL's JSON type refuses.
    artifact.facts = json_native(artifact.facts)
    artifact.parity = json_native(parity)
    artifact.parity_passed = parity.get("passed") if parity.get("checked") else None
    record_job_event(
        session,
        job,
        "artifact.recorded",
        {
            "kind": job.target_kind,
            "sha256": artifact.sha256,
            "size": artifact.size,
            "derived_from_sha256": session.get(Artifact, source_id).sha256,
            "parity_passed": artifact.parity_passed,
            "parity": parity,
        },
    )
    if job.version.signature is None and signature is not None:
        job.version.signature = signature
    return artifact


def find_reusable(session: Session, cache_key: str) -> Artifact | None:
    """A variant an earlier job made from the same inputs (see `cache_key`), of a version not
    deleted: a deleted version's bytes may be collected by `registry gc` at any time."""
    return session.scalar(
        select(Artifact)
        .join(ConversionJob, Artifact.job_id == ConversionJob.id)
        .join(ModelVersion, Artifact.version_id == ModelVersion.id)
        .where(
            ConversionJob.outcome["cache_key"].as_string() == cache_key,
            ModelVersion.deleted_at.is_(None),
        )
        .limit(1)
    )


def reuse_variant(
    session: Session, job: ConversionJob, earlier: Artifact, source_id: int
) -> dict[str, Any]:
    """Record `earlier`'s bytes as this job's variant; returns what the job's outcome inherits."""
    record_variant(
        session,
        job,
        source_id=source_id,
        sha256=earlier.sha256,
        size=earlier.size,
        storage_key=earlier.storage_key,
        packaging=earlier.packaging,
        filename=earlier.filename,
        facts=earlier.facts,
        parity=earlier.parity,
        signature=earlier.version.signature,
    )
    # The bytes are the earlier job's: so are the steps, options and versions behind them.
    earlier_outcome = session.get(ConversionJob, earlier.job_id).outcome
    return {
        "reused_from_job": earlier.job_id,
        **{key: earlier_outcome[key] for key in INHERITED_OUTCOME if key in earlier_outcome},
    }


def record_signature(session: Session, version: ModelVersion, signature: dict[str, Any]) -> None:
    """A described upload's signature (a .tflite source is read, not converted; a graph
    without output_nodes is described first, to find its outputs)."""
    version.signature = signature
    if outputs_to_find(version):
        record_found_outputs(session, version, signature.get("options") or {})


def record_profile(session: Session, job: ConversionJob, artifact: Artifact, profile: dict) -> None:
    """A variant's size, load time and latency on the worker that measured them, in its facts
    (replacing an earlier profile; the same bytes measured again)."""
    artifact.facts = {**(artifact.facts or {}), "profile": json_native(profile)}
    record_job_event(
        session,
        job,
        "artifact.profiled",
        {"kind": artifact.kind, "sha256": artifact.sha256, "profile": profile},
    )
