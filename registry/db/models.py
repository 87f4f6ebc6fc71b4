"""The registry's tables: models, versions, artifacts, aliases, jobs, tokens, the audit log and
webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # The model card (markdown). Taken from the newest upload's assets.extra/README.md, whose
    # number is kept here, until set by hand (then NULL: uploads no longer replace it).
    description: Mapped[str] = mapped_column(Text, default="")
    description_from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The last version number handed out; bumped under a row lock so numbers never repeat or skip.
    last_version_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="anonymous")
    # Deleted models are kept (their versions, lineage and audit events stay whole), hidden.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.number"
    )
    aliases: Mapped[list[Alias]] = relationship(back_populates="model", order_by="Alias.name")
    # The search index of `tags`; written with them, removed when the model is deleted.
    tag_index: Mapped[list[ModelTag]] = relationship(cascade="all, delete-orphan")


class ModelTag(Base):
    """One tag of a live model as search matches it: `key:value`, the value as text.

    The model's name is repeated here so a tag search reads the index in name order and stops
    after a page, however many models carry the tag (names are never changed).
    """

    __tablename__ = "model_tags"
    __table_args__ = (Index("ix_model_tags_search", "key", "value", "model_name"),)

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    model_name: Mapped[str] = mapped_column(String(128))


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    # pending -> converting -> ready | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_detail: Mapped[str] = mapped_column(Text, default="")
    source_kind: Mapped[str] = mapped_column(String(32))
    source_filename: Mapped[str] = mapped_column(String(255), default="")
    # Input/output signature of the source, filled in by the first conversion job.
    signature: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # How its signature compares with the version before it and with each alias's version
    # when it was uploaded: [{version, previous, aliases, verdict, breaking, changes}], each
    # verdict `pending` until both signatures are known (see catalog.compatibility).
    compatibility: Mapped[list[Any] | None] = mapped_column(nullable=True)
    # Conversion options given at upload: output_nodes, input_nodes, input_shapes, targets.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Output nodes found in the graph because none were given, and how: {output_nodes, how}.
    inferred_outputs: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="anonymous")
    # A deleted version keeps its row and number; its bytes are left to `registry gc`.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    model: Mapped[Model] = relationship(back_populates="versions")
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="version", order_by="Artifact.id"
    )
    jobs: Mapped[list[ConversionJob]] = relationship(
        back_populates="version", order_by="ConversionJob.id"
    )
    # The aliases pointing at this version (read-only: aliases are moved through Model.aliases).
    aliases: Mapped[list[Alias]] = relationship(viewonly=True, order_by="Alias.name")


# The newest version not deleted (what `latest` names), loaded with the model in one query.
Model.latest_version_number = column_property(
    select(func.max(ModelVersion.number))
    .where(ModelVersion.model_id == Model.id, ModelVersion.deleted_at.is_(None))
    .correlate_except(ModelVersion)
    .scalar_subquery()
)


class Artifact(Base):
    """Bytes in storage that belong to a version: the upload itself or a converted variant."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("version_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255))
    # How the bytes are packed: "file", "tar.gz" or "zip" (directory kinds come as archives).
    packaging: Mapped[str] = mapped_column(String(16), default="file")
    filename: Mapped[str] = mapped_column(String(255), default="")
    # Lineage: the artifact it was derived from and the job that derived it (None for uploads).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"), nullable=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversion_jobs.id", use_alter=True, name="fk_artifacts_job_id"), nullable=True
    )
    # Facts a deployer needs (tensor details, needs_flex...) and the parity check's figures.
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parity: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    parity_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="anonymous")

    version: Mapped[ModelVersion] = relationship(back_populates="artifacts")
    parent: Mapped[Artifact | None] = relationship(remote_side=[id])


class Alias(Base):
    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Indexed: a version's answer names the aliases pointing at it.
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="anonymous")

    model: Mapped[Model] = relationship(back_populates="aliases")
    version: Mapped[ModelVersion] = relationship()


class ConversionJob(Base):
    """One conversion of a version's source into one target kind: the record of what must run."""

    __tablename__ = "conversion_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(32))
    # queued -> running -> succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Filled in when the job ran: steps, converter versions, options actually used, reuse.
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When it last began waiting for the broker (queued, or requeued after a failed attempt),
    # and when the broker took its message: the sweep sends only what the broker never got.
    queued_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, default=utcnow
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    worker: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="anonymous")
    # A job whose attempt could not reach storage or the database waits until `retry_at`;
    # `unavailable_since` is when its current run of such attempts began (see jobs.defer).
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    unavailable_since: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )

    version: Mapped[ModelVersion] = relationship(back_populates="jobs")


class ApiToken(Base):
    """An access token: only its sha256 is stored; its name is the actor of what it does."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique forever (revoked tokens keep theirs): an actor in the audit log names one token.
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, so a person can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class AuditEvent(Base):
    """One state change, chained to the previous event by hash; rows are never changed."""

    __tablename__ = "audit_events"
    # An alias's history and what it named at a time are read by subject, in time order.
    __table_args__ = (Index("ix_audit_events_subject_time", "subject", "time"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(512))
    # The model the event concerns (None for token events), for filtering; part of the hash.
    model: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row naming the chain's last event: appends lock it, so they form one chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class WebhookEndpoint(Base):
    """A URL the registry tells about events; its secret signs every delivery."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # `whsec_` + base64 (the Standard Webhooks form); kept to sign with, never shown again.
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    # Removed endpoints are kept, so their delivery log stays readable.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    removed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class WebhookDelivery(Base):
    """One event to send to one endpoint: the outbox row, written in the transaction of the
    change it tells about, and the log of its attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    # `webhook-id`: one per event, the same on every attempt (receivers deduplicate by it).
    message_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    # The exact bytes signed and sent, the same on every attempt.
    body: Mapped[str] = mapped_column(Text)
    # pending -> delivered | failed | cancelled (its endpoint was removed)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Of the last attempt: the receiver's HTTP status (None when none came) and what went wrong.
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Held while an attempt is under way, so two messages of one delivery do not both send.
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    endpoint: Mapped[WebhookEndpoint] = relationship()
