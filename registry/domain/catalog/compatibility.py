"""Each version's signature compared with the versions its clients come from: the version
before it, and the version each alias named when it was uploaded.

Which versions to compare with is fixed at upload (`plan_comparisons`); a signature is only
known once a worker describes the version, so each verdict stays `pending` until both
signatures are (`signature_recorded` fills in what waited on a version's signature).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import ModelVersion
from registry.domain import jobs
from registry.domain.catalog.comparison import SignatureComparison, compare_versions
from registry.errors import Conflict

PENDING = "pending"


class SignatureUnknown(Conflict):
    title = "Signature not known yet"


def compare_known(before: ModelVersion, after: ModelVersion) -> SignatureComparison:
    """What a client of `before` meets in `after`; refused while either signature is unknown."""
    for version in (before, after):
        if version.signature is None:
            raise SignatureUnknown(
                f"version {version.number} of {version.model.name!r} has no signature yet "
                f"(its first conversion describes it; it is {version.status}): compare again "
                "once it is converting or ready"
            )
    return compare_versions(before, after)


def plan_comparisons(session: Session, version: ModelVersion) -> None:
    """Record, on a new version, the versions it is to be compared with: the live version
    before it and each alias's version, as they are now. Verdicts wait for the signatures."""
    planned: dict[int, dict[str, Any]] = {}
    previous = session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.model_id == version.model.id,
            ModelVersion.number < version.number,
            ModelVersion.deleted_at.is_(None),
        )
        .order_by(ModelVersion.number.desc())
        .limit(1)
    )
    if previous is not None:
        planned[previous.number] = _pending(previous.number, previous=True)
    for alias in version.model.aliases:
        number = alias.version.number
        planned.setdefault(number, _pending(number, previous=False))["aliases"].append(alias.name)
    version.compatibility = [planned[number] for number in sorted(planned, reverse=True)]


def _pending(number: int, *, previous: bool) -> dict[str, Any]:
    return {
        "version": number,
        "previous": previous,
        "aliases": [],
        "verdict": PENDING,
        "breaking": None,
        "changes": None,
    }


@contextmanager
def comparisons_settled(session: Session, version: ModelVersion) -> Iterator[None]:
    """Around a step that may record `version`'s signature: if it does, fill in the verdicts
    that waited on it, its own and those of later versions whose signatures came first."""
    known = version.signature is not None
    yield
    if known or version.signature is None:
        return
    _settle(session, version)
    # Only later versions with a signature can wait on this one (not every later upload).
    later = session.scalars(
        select(ModelVersion).where(
            ModelVersion.model_id == version.model.id,
            ModelVersion.number > version.number,
            ModelVersion.signature.is_not(None),
        )
    )
    for other in later:
        waiting = any(_waits_on(entry, version.number) for entry in other.compatibility or [])
        if waiting and other.signature is not None:
            _settle(session, other)


def record_signature(session: Session, version: ModelVersion, signature: dict[str, Any]) -> None:
    """A described upload's signature (a .tflite source is read, not converted), and the
    verdicts that waited on it."""
    with comparisons_settled(session, version):
        jobs.record_signature(session, version, signature)


def _waits_on(entry: dict[str, Any], number: int) -> bool:
    return entry["verdict"] == PENDING and entry["version"] == number


def _settle(session: Session, version: ModelVersion) -> None:
    settled = []
    for entry in version.compatibility or []:
        if entry["verdict"] == PENDING:
            earlier = session.scalar(
                select(ModelVersion).where(
                    ModelVersion.model_id == version.model.id,
                    ModelVersion.number == entry["version"],
                )
            )
            if earlier is not None and earlier.signature is not None:
                comparison = compare_versions(earlier, version)
                entry = {
                    **entry,
                    "verdict": comparison.verdict,
                    "breaking": len(comparison.breaking),
                    "changes": len(comparison.changes),
                }
        settled.append(entry)
    # A new list, so the JSON column is seen as changed.
    version.compatibility = settled
