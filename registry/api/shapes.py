"""How models, versions, artifacts, jobs, lineage, audit events, tokens and webhooks look in JSON
answers.

Each class is one response shape: views dump rows (or the domain's plain dicts) through it, and
the OpenAPI document publishes it under the class's name, its docstring as the description.
In an answer every field is always present, null when it has no value, unless its metadata
says `sometimes_absent`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import g, url_for
from marshmallow import INCLUDE, Schema, fields, validate

from registry.api.dumping import dumper
from registry.api.fields import Computed, JSONObject, Name, Sha256, Text, Timestamp
from registry.db.models import Artifact as ArtifactRow
from registry.domain.catalog.shipping import flags, ship_table
from registry.domain.inspection.detection import PACKAGINGS
from registry.domain.ledger.tokens import SCOPES
from registry.domain.webhooks import EVENTS as WEBHOOK_EVENTS
from registry.vocabulary import DESCRIBE, EXAMPLE_INPUTS_KIND, PROFILE, SOURCE_KINDS, TARGET_KINDS

ARTIFACT_KINDS = (*SOURCE_KINDS, *(k for k in TARGET_KINDS if k not in SOURCE_KINDS))
JOB_TARGETS = (*TARGET_KINDS, DESCRIBE, PROFILE)


def one_of(*choices: str, **kwargs) -> Text:
    return Text(validate=validate.OneOf(choices), **kwargs)


def about(description: str) -> dict[str, str]:
    return {"description": description}


def artifact_kind(**kwargs) -> Text:
    return one_of(*ARTIFACT_KINDS, EXAMPLE_INPUTS_KIND, **kwargs)


def any_object(description: str = "", **kwargs) -> JSONObject:
    return JSONObject(metadata=about(description) if description else {}, **kwargs)


def optional(field: fields.Field) -> fields.Field:
    """A field absent from some answers (rather than null)."""
    field.metadata = {**field.metadata, "sometimes_absent": True}
    return field


def list_of(shape: type[Schema]) -> fields.List:
    return fields.List(fields.Nested(shape))


def next_cursor() -> Text:
    return Text(
        allow_none=True, metadata=about("pass as `cursor` for the next page; null on the last")
    )


class Answer(Schema):
    """Base of the response shapes."""


def dump(shape: type[Answer], value: Any) -> dict[str, Any]:
    """`value` as `shape` answers it, through the shape's compiled plan (`dumping`): the same
    answer as marshmallow's `dump`, without its calls per field."""
    return dumper(shape)(value)


class Problem(Answer):
    """An error (RFC 9457). Extension members may follow, e.g. `failures`."""

    class Meta:
        unknown = INCLUDE

    type = Text(
        metadata={"description": "identifies the kind of problem", "format": "uri-reference"}
    )
    title = Text(metadata=about("short, the same for every problem of this type"))
    status = fields.Integer(validate=validate.Range(min=400, max=599))
    detail = Text(metadata=about("what happened and what to change"))
    instance = Text(metadata={"description": "the request path", "format": "uri-reference"})


class AliasRefusal(Problem):
    """A refused alias move and what refused it: failed variants, or breaking signature
    changes for the clients of the version the alias names now."""

    failures = fields.List(
        fields.Dict(), metadata=about("each failure: `kind`, `problem`, `summary` and figures")
    )
    breaking = fields.List(
        fields.Dict(), metadata=about("each breaking change, as `SignatureChange` shows it")
    )


class Deleted(Problem):
    """A deleted model or version: when and by whom. Its history stays in the audit log."""

    deleted_at = Timestamp()
    deleted_by = Text()


class AliasedRefusal(Problem):
    """A deletion refused while aliases point at what was to be deleted."""

    aliases = fields.Dict(
        keys=Text(), values=fields.Integer(), metadata=about("alias: the version it points at")
    )


class Job(Answer):
    """A conversion of a version's source into one target kind."""

    id = fields.Integer()
    target = one_of(*JOB_TARGETS, attribute="target_kind")
    status = one_of("queued", "running", "succeeded", "failed")
    error = Text()
    attempts = fields.Integer()
    created_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    outcome = any_object("steps, converter versions, options used...")


def download_url(artifact: ArtifactRow) -> str:
    """Built once per version and request (a page of versions holds hundreds of artifacts): the
    URLs of a version's artifacts differ only in their last segment, the kind."""
    version = artifact.version
    if not KIND_AS_IS.fullmatch(artifact.kind):
        return _artifact_url(version, artifact.kind)
    prefixes = g.setdefault("artifact_url_prefixes", {})
    key = (version.model.name, version.number)
    prefix = prefixes.get(key)
    if prefix is None:
        prefix = prefixes[key] = _artifact_url(version, "kind").rpartition("/")[0]
    return f"{prefix}/{artifact.kind}"


# Kinds a URL carries unquoted.
KIND_AS_IS = re.compile(r"[A-Za-z0-9_.-]+")


def _artifact_url(version, kind: str) -> str:
    return url_for(
        "versions.download_artifact",
        name=version.model.name,
        ref=str(version.number),
        kind=kind,
        _external=True,
    )


class Artifact(Answer):
    """Stored bytes of a version: the upload or a converted variant."""

    kind = artifact_kind()
    sha256 = Sha256()
    size = fields.Integer()
    packaging = one_of(*PACKAGINGS, metadata=about("directory kinds come as archives"))
    filename = Text()
    derived_from = Computed(
        lambda artifact: artifact.parent.kind if artifact.parent else None,
        Text(allow_none=True, metadata=about("kind of the artifact it was converted from")),
    )
    job_id = fields.Integer(allow_none=True)
    facts = any_object(
        "tensor details, needs_flex, quantization...; for TFLite a `report` (operators, Flex "
        "and custom ops, GPU-delegate fallbacks, tensor arena); `profile` once measured"
    )
    parity = any_object("the parity check's figures", allow_none=True)
    parity_passed = fields.Boolean(allow_none=True)
    flags = Computed(
        lambda artifact: flags(artifact.facts or {}),
        fields.List(Text(), metadata=about('e.g. "needs Flex: 2 ops (...)"')),
    )
    download_url = Computed(download_url, fields.Url())


class CompatibilitySummary(Answer):
    """How the version's signature compares with one it was uploaded after: the version
    before it and/or the version aliases named then."""

    version = fields.Integer(metadata=about("the version compared with"))
    previous = fields.Boolean(metadata=about("it is the version before this one"))
    aliases = fields.List(Text(), metadata=about("the aliases that named it at upload"))
    verdict = one_of(
        "compatible",
        "breaking",
        "pending",
        metadata=about("for its clients; `pending` until both signatures are known"),
    )
    breaking = fields.Integer(allow_none=True, metadata=about("how many changes break clients"))
    changes = fields.Integer(allow_none=True, metadata=about("how many inputs/outputs changed"))


class ShipRow(Answer):
    """One deployable artifact of a version, with what decides whether to ship it."""

    kind = one_of(*TARGET_KINDS)
    size = fields.Integer()
    parity = one_of("passed", "failed", "not checked", "source")
    max_abs_diff = fields.Float(allow_none=True, metadata=about("worst output's, vs the source"))
    latency_p50_ms = fields.Float(allow_none=True, metadata=about("one thread, worker's CPU"))
    latency_p90_ms = fields.Float(allow_none=True)
    load_ms = fields.Float(allow_none=True)
    profile = Text(metadata=about("`measured`, `pending`, or why it was not measured"))
    flex_ops = fields.List(Text(), metadata=about("TensorFlow ops it needs the Flex runtime for"))
    gpu_fallback_ops = fields.Integer(
        allow_none=True, metadata=about("operators a GPU delegate leaves to the CPU (TFLite)")
    )
    flags = fields.List(Text())


class Version(Answer):
    """An immutable model version, its signature, artifacts and conversion jobs."""

    model = Name(attribute="model.name")
    version = fields.Integer(attribute="number")
    status = one_of("pending", "converting", "ready", "failed")
    status_detail = Text()
    source_kind = one_of(*SOURCE_KINDS)
    source_filename = Text()
    signature = any_object("inputs and outputs, once described", allow_none=True)
    options = any_object("conversion options given at upload")
    inferred_outputs = any_object(
        "output nodes found in the graph because none were given, and how they were found "
        "({output_nodes, how}); null when given or not needed",
        allow_none=True,
    )
    tags = any_object()
    aliases = Computed(
        lambda version: [alias.name for alias in version.aliases], fields.List(Text())
    )
    compatibility = Computed(
        lambda version: version.compatibility or [], list_of(CompatibilitySummary)
    )
    created_at = Timestamp()
    created_by = Text()
    artifacts = list_of(Artifact)
    jobs = Computed(
        lambda version: [j for j in version.jobs if j.target_kind != PROFILE],
        fields.List(fields.Nested(Job), metadata=about("its conversion jobs")),
    )
    profile_job = Computed(
        lambda version: next((j for j in reversed(version.jobs) if j.target_kind == PROFILE), None),
        fields.Nested(
            Job,
            allow_none=True,
            metadata=about("the latest measuring of its variants, queued once it is ready"),
        ),
    )
    ship = Computed(
        ship_table,
        fields.List(fields.Nested(ShipRow), metadata=about("which variant to ship, at a glance")),
    )


class PartTicket(Answer):
    """One part of a direct upload: PUT its bytes to `url` (no Authorization header)."""

    number = fields.Integer(metadata=about("1 for the file's first `part_size` bytes, and so on"))
    size = fields.Integer()
    url = fields.Url(metadata=about("a presigned storage URL, valid until `urls_expire_at`"))
    stored_etags = fields.List(
        Text(),
        metadata=about(
            "ETags (MD5s on S3) of the bytes the store holds for this part: a part whose MD5 is "
            "one of them need not be sent again"
        ),
    )


class DirectUpload(Answer):
    """A direct upload in progress: send the parts not stored yet, then finish it."""

    id = Text(metadata=about("finish with POST .../uploads/{id}/complete"))
    part_size = fields.Integer(metadata=about("bytes per part, the last one excepted"))
    parts = list_of(PartTicket)
    urls_expire_at = Timestamp(metadata=about("ask again for fresh URLs after this"))


class VersionList(Answer):
    """A page of versions."""

    versions = list_of(Version)
    next_cursor = next_cursor()


class Model(Answer):
    """A named model; its versions are numbered from 1."""

    name = Name()
    description = Text(metadata=about("the model card, in markdown"))
    description_from_version = fields.Integer(
        allow_none=True,
        metadata=about(
            "the version whose assets.extra/README.md the card is; null when set by hand"
        ),
    )
    tags = any_object()
    created_at = Timestamp()
    created_by = Text(metadata=about("the actor (token name) that created it"))
    aliases = Computed(
        lambda model: {alias.name: alias.version.number for alias in model.aliases},
        fields.Dict(keys=Text(), values=fields.Integer(), metadata=about("alias: version")),
    )
    latest_version = Computed(
        lambda model: model.latest_version_number,
        fields.Integer(
            allow_none=True, metadata=about("the newest version not deleted; null when none")
        ),
    )


class Deletion(Answer):
    """What a deletion marked deleted: rows are kept, bytes are left to `registry gc`."""

    model = Name()
    model_deleted = fields.Boolean(metadata=about("the model itself, with all its versions"))
    versions = fields.List(fields.Integer(), metadata=about("the version numbers deleted"))
    deleted_at = Timestamp()
    deleted_by = Text()


class ModelList(Answer):
    """A page of models."""

    models = list_of(Model)
    next_cursor = next_cursor()


class Alias(Answer):
    """A named pointer at a version."""

    model = Name(attribute="model.name")
    alias = Name(attribute="name")
    version = fields.Integer(attribute="version.number")
    updated_at = Timestamp()
    updated_by = Text()


class SignatureChange(Answer):
    """One input or output that differs between two versions, classified for a client."""

    signature = Text(metadata=about("`main`, or a signature key such as `serving_default`"))
    side = one_of("inputs", "outputs")
    name = Text(metadata=about("its name (the new name of a renamed one)"))
    change = one_of("added", "removed", "renamed", "changed")
    verdict = one_of("breaking", "compatible")
    reason = Text(metadata=about("e.g. `input 'mask' removed`"))
    before = any_object("`{name, dtype, shape}` in the first version", allow_none=True)
    after = any_object("`{name, dtype, shape}` in the second version", allow_none=True)


class Comparison(Answer):
    """What a client of one version meets in another: the signature changes and the verdict."""

    model = Name(attribute="before.model.name")
    version = fields.Integer(attribute="before.number", metadata=about("the version compared"))
    with_version = fields.Integer(
        attribute="after.number", metadata=about("the version it is compared with")
    )
    verdict = one_of("compatible", "breaking")
    breaking = Computed(lambda comparison: len(comparison.breaking), fields.Integer())
    changes = Computed(
        lambda comparison: [change.as_dict() for change in comparison.changes],
        list_of(SignatureChange),
    )


class AliasChange(Answer):
    """One change of an alias, from the audit log."""

    seq = fields.Integer(metadata=about("the audit event's sequence number"))
    time = Timestamp()
    actor = Text()
    action = one_of("alias.set", "alias.moved", "alias.removed", "alias.refused")
    from_version = fields.Integer(allow_none=True, metadata=about("what it named before"))
    to_version = fields.Integer(
        allow_none=True, metadata=about("what it named after (a refusal: what was asked)")
    )
    forced = fields.Boolean(metadata=about("moved despite the gates"))
    rollback = fields.Boolean(metadata=about("a move back to the version named before"))
    failures = fields.List(fields.Dict(), metadata=about("failed variants, refused or overridden"))
    breaking = fields.List(
        fields.Dict(), metadata=about("breaking signature changes, refused or overridden")
    )
    signature = any_object(
        "the signature comparison with the version named before: verdict, breaking, changes",
        allow_none=True,
    )


class AliasHistory(Answer):
    """A page of an alias's changes, oldest first."""

    model = Name()
    alias = Name()
    changes = list_of(AliasChange)
    next_cursor = next_cursor()


class LineageNode(Answer):
    """An artifact in the derivation graph."""

    id = Text(metadata=about("the artifact's kind, unique within a version"))
    kind = artifact_kind()
    sha256 = Sha256()
    size = fields.Integer()
    packaging = one_of(*PACKAGINGS)
    filename = Text()
    origin = one_of("upload", "conversion")
    created_at = Timestamp()
    created_by = Text()


class LineageEdge(Answer):
    """The conversion that derived `to` from `from`."""

    from_ = Text(data_key="from", attribute="from")
    to = Text()
    job_id = fields.Integer(allow_none=True)
    steps = fields.List(Text())
    converter_versions = any_object("TensorFlow, registry, Python...")
    options = any_object()
    worker = Text()
    worker_host = Text()
    task_id = Text(metadata=about("Celery task id"))
    attempts = fields.Integer(allow_none=True)
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    reused_from_job = fields.Integer(allow_none=True)
    parity = any_object("the parity check's figures", allow_none=True)
    parity_passed = fields.Boolean(allow_none=True)
    actor = Text(metadata=about("who caused the conversion"))


class FailedConversion(Answer):
    """A conversion whose latest attempt failed."""

    target = Text()
    job_id = fields.Integer()
    error = Text()
    actor = Text()


class Lineage(Answer):
    """A version's derivation graph."""

    model = Name()
    version = fields.Integer()
    status = Text()
    uploaded_by = Text()
    uploaded_at = Timestamp()
    example_inputs_sha256 = Sha256(allow_none=True)
    nodes = list_of(LineageNode)
    edges = list_of(LineageEdge)
    failed_conversions = list_of(FailedConversion)


class AncestryStep(Answer):
    """A step back, from the artifact asked about to the uploaded one."""

    artifact = fields.Nested(LineageNode)
    derived_by = fields.Nested(LineageEdge, allow_none=True)


class Holder(Answer):
    """One version holding the bytes."""

    model = Name()
    version = fields.Integer()
    kind = artifact_kind()
    status = Text()
    aliases = fields.List(Text())
    uploaded_by = Text()
    uploaded_at = Timestamp()
    source_filename = Text()
    ancestry = list_of(AncestryStep)


class ArtifactHolders(Answer):
    """The versions holding some bytes, each with its ancestry back to the upload."""

    sha256 = Sha256()
    holders = list_of(Holder)


class AuditEvent(Answer):
    """One change; `hash` = sha256(prev_hash + canonical JSON of the other fields)."""

    seq = fields.Integer()
    time = Timestamp()
    actor = Text()
    action = Text(metadata=about("e.g. `version.uploaded`, `alias.moved`, `job.failed`"))
    subject = Text(metadata=about("e.g. `model/mnist/version/3`"))
    model = Text(allow_none=True)
    details = any_object()
    prev_hash = Text(validate=validate.Regexp("^[0-9a-f]{64}$"))
    hash = Sha256()


class AuditPage(Answer):
    """A page of events."""

    events = list_of(AuditEvent)
    next_cursor = next_cursor()


class ChainVerification(Answer):
    """The audit chain recomputed."""

    ok = fields.Boolean()
    events = fields.Integer(metadata=about("how many events were checked"))
    head_hash = optional(Text(metadata=about("the last event's hash, when ok")))
    first_bad_seq = optional(fields.Integer(metadata=about("the first event that does not verify")))
    reason = optional(Text())


class Token(Answer):
    """An access token as listed: never its secret."""

    name = Name()
    scope = one_of(*SCOPES)
    prefix = Text(metadata=about("the secret's first characters"))
    status = one_of("active", "revoked", "expired")
    created_at = Timestamp()
    created_by = Text()
    expires_at = Timestamp(allow_none=True)
    revoked_at = Timestamp(allow_none=True)
    revoked_by = Text(allow_none=True)


class IssuedToken(Token):
    """A new token with its secret."""

    token = Text(metadata=about("the secret, shown this once"))


class TokenList(Answer):
    """Every token."""

    tokens = list_of(Token)


class Webhook(Answer):
    """An endpoint told about events: never its secret."""

    id = fields.Integer()
    url = Text(metadata={"format": "uri"})
    events = fields.List(one_of(*WEBHOOK_EVENTS))
    created_at = Timestamp()
    created_by = Text()


class IssuedWebhook(Webhook):
    """A new endpoint with its signing secret."""

    secret = Text(metadata=about("`whsec_...`: the signing secret, shown this once"))


class WebhookList(Answer):
    """Every endpoint not removed."""

    webhooks = list_of(Webhook)


class Delivery(Answer):
    """One event sent (or to be sent) to one endpoint, and how its attempts went."""

    id = fields.Integer()
    message_id = Text(metadata=about("the `webhook-id` header, the same on every attempt"))
    event = one_of(*WEBHOOK_EVENTS)
    status = one_of("pending", "delivered", "failed", "cancelled")
    attempts = fields.Integer()
    status_code = fields.Integer(
        allow_none=True, metadata=about("the last attempt's HTTP answer; null when none came")
    )
    last_error = Text(metadata=about("what went wrong in the last attempt; empty once delivered"))
    created_at = Timestamp()
    next_attempt_at = Timestamp(metadata=about("when a pending delivery is tried again"))
    finished_at = Timestamp(allow_none=True)
    payload = Computed(lambda delivery: json.loads(delivery.body), JSONObject())


class DeliveryPage(Answer):
    """A page of an endpoint's deliveries, newest first."""

    deliveries = list_of(Delivery)
    next_cursor = next_cursor()


class Health(Answer):
    """The process answers."""

    status = one_of("ok")


class Readiness(Answer):
    """Every backing service answers."""

    status = one_of("ready")
    database = one_of("ok")
    storage = one_of("ok")
    broker = one_of("ok")
