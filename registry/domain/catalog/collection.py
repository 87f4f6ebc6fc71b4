"""Collecting stored bytes nothing needs: left by deleted versions, refused uploads, crashes
between a write and its commit, conversions whose outcome was never recorded.

Bytes are shared (content-addressed, or a direct upload's key that a later upload of the
same bytes reuses: an artifact's `storage_key` is what counts, never a key derived from its
sha256), and uploads and conversions write them *before* the transaction that records them
commits. What keeps a collection safe while they run:

1. The store is listed before the database is read (`list_stored`, then `plan_collection`):
   an object recorded by the time of the read is seen as needed, one written after the
   listing is not even a candidate.
2. Needed are the bytes of every artifact of a version not deleted, of their ancestry (the
   artifacts they were derived from), and of versions deleted less than the grace period
   ago (a conversion that just chose to reuse them commits within that time).
3. Nothing written or refreshed within the grace period is collected: it may belong to an
   upload or a conversion not yet committed. Promoting bytes a store already holds refreshes
   them, and each candidate is deleted only if it is still stale at that moment
   (`Storage.delete_stale`), so bytes being recorded again since the listing are spared.
   A direct upload shares only bytes a live version refers to, which point 2 keeps.

The grace period must therefore outlast the longest upload or conversion between writing its
bytes and committing them (REGISTRY_GC_GRACE_SECONDS, a day by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Artifact, ModelVersion
from registry.domain.ledger.audit import as_utc
from registry.storage import Storage, StoredBlob

# The registry writes nothing else; any other key in the store is not its to remove.
COLLECTED_PREFIXES = ("blobs/", "tmp/")


@dataclass(frozen=True)
class StoredObjects:
    """What the store held, listed before the database is read, and when the listing began."""

    blobs: list[StoredBlob]
    listed_at: datetime


@dataclass(frozen=True)
class CollectionPlan:
    """The unneeded objects older than the cutoff, and how many others were kept and why."""

    garbage: list[StoredBlob]
    modified_before: datetime
    listed: int
    listed_bytes: int
    needed: int
    fresh: int


@dataclass
class CollectionReport:
    """What a collection found and removed (or, in a dry run, would remove)."""

    dry_run: bool
    listed: int
    listed_bytes: int
    needed: int
    fresh: int
    removed: int = 0
    bytes_freed: int = 0
    # Candidates written again after the listing (being recorded again): kept.
    refreshed: int = 0
    removed_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "listed": {"objects": self.listed, "bytes": self.listed_bytes},
            "kept": {"needed": self.needed, "fresh": self.fresh, "refreshed": self.refreshed},
            "removed": {"objects": self.removed, "bytes": self.bytes_freed},
            "removed_keys": self.removed_keys,
        }


def list_stored(
    storage: Storage, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> StoredObjects:
    """Every object the registry may have written, with its size and age."""
    listed_at = clock()
    blobs = [blob for prefix in COLLECTED_PREFIXES for blob in storage.list_blobs(prefix)]
    return StoredObjects(blobs, listed_at)


def plan_collection(session: Session, stored: StoredObjects, grace: timedelta) -> CollectionPlan:
    """Which listed objects nothing needs, and are older than the grace period."""
    cutoff = stored.listed_at - grace
    needed_keys = needed(session, deleted_after=cutoff)
    unneeded = [blob for blob in stored.blobs if blob.key not in needed_keys]
    garbage = [blob for blob in unneeded if blob.modified_at < cutoff]
    return CollectionPlan(
        garbage=garbage,
        modified_before=cutoff,
        listed=len(stored.blobs),
        listed_bytes=sum(blob.size for blob in stored.blobs),
        needed=len(stored.blobs) - len(unneeded),
        fresh=len(unneeded) - len(garbage),
    )


def needed(session: Session, deleted_after: datetime) -> set[str]:
    """Storage keys of the artifacts of versions not deleted (or deleted after the time
    given) and of every artifact those were derived from."""
    rows = session.execute(
        select(Artifact.id, Artifact.parent_id, Artifact.storage_key, ModelVersion.deleted_at).join(
            ModelVersion, Artifact.version_id == ModelVersion.id
        )
    ).all()
    parent_of = {row.id: row.parent_id for row in rows}
    key_of = {row.id: row.storage_key for row in rows}
    pending = [
        row.id for row in rows if row.deleted_at is None or as_utc(row.deleted_at) >= deleted_after
    ]
    seen: set[int] = set()
    while pending:
        artifact_id = pending.pop()
        if artifact_id is None or artifact_id in seen:
            continue
        seen.add(artifact_id)
        pending.append(parent_of.get(artifact_id))
    return {key_of[artifact_id] for artifact_id in seen}


def collect(storage: Storage, plan: CollectionPlan, *, dry_run: bool) -> CollectionReport:
    """Remove the plan's garbage (unless a dry run) and report what was found and freed."""
    report = CollectionReport(
        dry_run=dry_run,
        listed=plan.listed,
        listed_bytes=plan.listed_bytes,
        needed=plan.needed,
        fresh=plan.fresh,
    )
    for blob in plan.garbage:
        if dry_run or storage.delete_stale(blob.key, plan.modified_before):
            report.removed += 1
            report.bytes_freed += blob.size
            report.removed_keys.append(blob.key)
        else:
            report.refreshed += 1
    return report
