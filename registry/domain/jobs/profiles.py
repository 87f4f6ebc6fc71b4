"""Which artifacts a version's profile job measures, and profiles taken over from the same
bytes measured before (a re-upload, or a variant reused from an earlier conversion)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from registry.db.models import Artifact, ModelVersion
from registry.vocabulary import EXAMPLE_INPUTS_KIND, TARGET_KINDS


def profiled_artifacts(version: ModelVersion) -> list[Artifact]:
    """What a version's profile job measures: every artifact of a deployable kind (its
    variants, and the upload itself when it is one)."""
    return [a for a in version.artifacts if a.kind in TARGET_KINDS]


def _examples_sha256(version: ModelVersion) -> str | None:
    return next((a.sha256 for a in version.artifacts if a.kind == EXAMPLE_INPUTS_KIND), None)


def known_profile(session: Session, artifact: Artifact) -> dict[str, Any] | None:
    """A profile already measured for these bytes, of this kind, on the same example inputs
    (the profile names the CPU and runtime versions it was measured with): the newest one, found
    by the database however many unmeasured copies of the same bytes came since."""
    examples = _examples_sha256(artifact.version)
    other = aliased(Artifact)
    their_examples = (
        select(other.sha256)
        .where(other.version_id == Artifact.version_id, other.kind == EXAMPLE_INPUTS_KIND)
        .scalar_subquery()
    )
    facts = session.scalar(
        select(Artifact.facts)
        .where(
            Artifact.sha256 == artifact.sha256,
            Artifact.kind == artifact.kind,
            Artifact.facts[("profile", "measured")].as_boolean(),
            their_examples.is_(None) if examples is None else their_examples == examples,
        )
        .order_by(Artifact.id.desc())
        .limit(1)
    )
    return facts["profile"] if facts else None


def adopt_known_profiles(session: Session, version: ModelVersion) -> list[Artifact]:
    """Give each deployable artifact a profile its bytes already have; returns those that
    still need measuring."""
    unmeasured = []
    for artifact in profiled_artifacts(version):
        if (artifact.facts or {}).get("profile", {}).get("measured"):
            continue
        profile = known_profile(session, artifact)
        if profile is None:
            unmeasured.append(artifact)
        else:
            artifact.facts = {**(artifact.facts or {}), "profile": profile}
    return unmeasured
