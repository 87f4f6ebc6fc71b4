"""Which artifacts a version's profile job measures, and profiles taken over from the same
bytes measured before (a re-upload, or a variant reused from an earlier conversion)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from registry.db.models import Artifact, ModelVersion
from registry.vocabulary import EXAMPLE_INPUTS_KIND, TARGET_KINDS


def profiled_artifacts(version: ModelVersion) -> list[Artifact]:
    """What a version's profile job measures: every artifact of a deployable kind (its
    variants, and the upload itself when it is one)."""
    return [a for a in version.artifacts if a.kind in TARGET_KINDS]


def _examples_sha256(version: ModelVersion) -> str | None:
    return next((a.sha256 for a in version.artifacts if a.kind == EXAMPLE_INPUTS_KIND), None)


@cache
def _newest_measured() -> Select:
    """The facts of the newest artifact holding given bytes of a given kind with a measured
    profile, measured on given example inputs ('' for none). Built once: the statement with
    its subquery costs more to build than to run."""
    other = aliased(Artifact)
    their_examples = (
        select(other.sha256)
        .where(other.version_id == Artifact.version_id, other.kind == EXAMPLE_INPUTS_KIND)
        .scalar_subquery()
    )
    return (
        select(Artifact.facts)
        .where(
            Artifact.sha256 == bindparam("sha256"),
            Artifact.kind == bindparam("kind"),
            Artifact.facts[("profile", "measured")].as_boolean(),
            func.coalesce(their_examples, "") == bindparam("examples"),
        )
        .order_by(Artifact.id.desc())
        .limit(1)
    )


def known_profile(session: Session, artifact: Artifact) -> dict[str, Any] | None:
    """A profile already measured for these bytes, of this kind, on the same example inputs
    (the profile names the CPU and runtime versions it was measured with): the newest one, found
    by the database however many unmeasured copies of the same bytes came since."""
    facts = session.scalar(
        _newest_measured(),
        {
            "sha256": artifact.sha256,
            "kind": artifact.kind,
            "examples": _examples_sha256(artifact.version) or "",
        },
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
