"""What requests send: JSON bodies, query strings and the upload form, each declared once.

Views load a request through its class here; the OpenAPI document publishes the same classes
(bodies as schemas, query classes expanded into parameters). Anything a class refuses becomes
the registry's 422 problem, its detail naming the field.
"""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
)

from registry.api.fields import (
    CommaList,
    FilePart,
    Flag,
    FullMatch,
    InputConstantsText,
    InputShapes,
    IsoTime,
    JSONObject,
    JSONObjectText,
    Name,
    Sha256,
    Text,
    VersionNumber,
    parse_json,
)
from registry.api.shapes import JOB_TARGETS, about, one_of
from registry.archives.reading import read_full
from registry.domain.catalog import alias_history
from registry.domain.catalog.cards import check_card_size
from registry.domain.catalog.direct_uploads import DirectUploadRequest
from registry.domain.catalog.uploads import UploadOptions
from registry.domain.ledger import audit
from registry.domain.ledger.tokens import SCOPES
from registry.domain.webhooks import EVENTS as WEBHOOK_EVENTS
from registry.domain.webhooks import outbox
from registry.errors import InvalidRequest
from registry.vocabulary import MODEL_CARD_MAX_BYTES, SOURCE_KINDS, TARGET_KINDS


class Body(Schema):
    """Base of the request shapes: a field they do not name is refused, not ignored."""

    class Meta:
        unknown = RAISE


class Query(Schema):
    """Base of the query strings: parameters they do not name are ignored (caches add some)."""

    class Meta:
        unknown = EXCLUDE


def load(shape: Schema, data: Any) -> Any:
    """`data` loaded through `shape`, or a 422 problem naming each field it refuses."""
    try:
        return shape.load(data)
    except ValidationError as error:
        raise refusal(error.messages) from error


def refusal(messages: Any) -> InvalidRequest:
    return InvalidRequest("; ".join(_messages(messages)))


def _messages(messages: Any, where: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [
            line
            for key, nested in messages.items()
            for line in _messages(nested, where if key == "_schema" else f"{where}{key}.")
        ]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{where.rstrip('.') or 'body'}: {' '.join(messages)}"]
    return [line for nested in messages for line in _messages(nested, where)]


def json_body(shape: Body, *, required: bool = True) -> Any:
    """The request's JSON object loaded through `shape`; an absent body is `{}` unless required."""
    if not request.get_data(cache=True) and not required:
        return load(shape, {})
    if not request.is_json:
        raise InvalidRequest("send a JSON object with Content-Type: application/json")
    return load(shape, _json_object(request.get_data(cache=True)))


def _json_object(data: bytes) -> dict:
    try:
        body = parse_json(data)
    except ValidationError as error:
        raise InvalidRequest(f"the body {' '.join(error.messages)}") from error
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object, {...}")
    return body


def query(shape: Query) -> dict[str, Any]:
    """The query string loaded through `shape`; list fields take every repetition."""
    args = request.args
    return load(
        shape,
        {
            key: args.getlist(key) if isinstance(shape.fields.get(key), fields.List) else args[key]
            for key in args
        },
    )


class NewModel(Body):
    """A model to create."""

    name = Name(required=True)
    description = Text(load_default="")
    tags = JSONObject(load_default=dict)


class ModelCard(Body):
    """A model card as JSON; or send the markdown itself, as text/markdown."""

    readme = Text(required=True, metadata=about("the card, in markdown"))


# JSON may spell each byte of the card as a \uXXXX escape.
_JSON_ESCAPE_FACTOR = 6


def model_card_text() -> str:
    """The card a request sends: a text/markdown (or text/plain) body as it is, or JSON
    `{readme}`. A body larger than any acceptable card is refused before it is read whole."""
    markdown = request.mimetype in ("text/markdown", "text/plain")
    if not markdown and not request.is_json:
        raise InvalidRequest('send the card as text/markdown, or as JSON {"readme": "..."}')
    bound = MODEL_CARD_MAX_BYTES * (1 if markdown else _JSON_ESCAPE_FACTOR) + 1024
    data = read_full(request.stream, bound + 1)
    if len(data) > bound:
        check_card_size(request.content_length or len(data))
    if markdown:
        try:
            text = data.decode(request.mimetype_params.get("charset", "utf-8"))
        except (UnicodeDecodeError, LookupError) as error:
            raise InvalidRequest(f"the card is not text in its charset: {error}") from None
    else:
        text = load(ModelCard(), _json_object(data))["readme"]
    check_card_size(len(text.encode()))
    return text


class AliasTarget(Body):
    """Where to point an alias."""

    version = VersionNumber(required=True)
    force = Flag(
        load_default=False,
        metadata=about(
            "point it even at a version with failed variants, or whose signature breaks "
            "clients of the version the alias names now"
        ),
    )


class AliasRollback(Body):
    """Moving an alias back to the version it named before."""

    force = Flag(
        load_default=False,
        metadata=about("even past the gates: failed variants, breaking signature changes"),
    )


class ConversionRequest(Body):
    """Conversions to (re)run; empty or absent: the defaults for the source kind."""

    targets = fields.List(one_of(*JOB_TARGETS), load_default=list)


class NewToken(Body):
    """A token to create."""

    name = Name(required=True)
    scope = one_of(
        *SCOPES, load_default="read", metadata=about("scopes nest: admin > write > read")
    )
    expires = Text(load_default="", metadata=about("`30d`, `12h` or an ISO time; absent: never"))


class NewWebhook(Body):
    """An endpoint to tell about events; deliveries are signed with its secret."""

    url = Text(
        required=True,
        validate=FullMatch("https?://.+", error="must be an http:// or https:// URL"),
        metadata={
            "description": "where to POST deliveries; its host must be public",
            "format": "uri",
        },
    )
    secret = Text(
        load_default=None,
        metadata=about(
            "`whsec_` + base64 of 24-64 random bytes (Standard Webhooks); absent: one is made "
            "and returned this once"
        ),
    )
    events = fields.List(one_of(*WEBHOOK_EVENTS), required=True, validate=validate.Length(min=1))


class Upload(Body):
    """A new version. Text fields go before `file`; lists are comma-separated."""

    declared_format = one_of(
        "auto",
        *SOURCE_KINDS,
        data_key="format",
        load_default="auto",
        metadata={"description": "what `file` is", "default": "auto"},
    )
    output_nodes = CommaList(metadata=about("checkpoint output node names, e.g. `probs,logits`"))
    input_nodes = CommaList(metadata=about("input node names, e.g. `images`"))
    input_shapes = InputShapes(metadata=about('`{"images": [1, 16, 16, 2]}` or `images:1,16,16,2`'))
    targets = CommaList(
        validate.OneOf(TARGET_KINDS),
        metadata=about(f"extra conversions: {', '.join(TARGET_KINDS)}"),
    )
    tags = JSONObjectText(load_default=dict, metadata=about("a JSON object"))
    signature_key = Text(
        load_default="",
        metadata=about("SavedModel signature to convert (default `serving_default`)"),
    )
    saved_model_tags = CommaList(metadata=about("SavedModel MetaGraph tags, e.g. `serve`"))
    input_constants = InputConstantsText(
        load_default=dict,
        metadata=about(
            'control inputs replaced by constants in every variant, e.g. `{"keep_prob": 1.0, '
            '"is_training": false}`'
        ),
    )
    int8_io = fields.Boolean(
        truthy={"true"},
        falsy={"false"},
        load_default=False,
        metadata=about(
            "`true`: the tflite_int8_full variant takes and gives int8 tensors (default: float)"
        ),
    )
    sha256 = Sha256(
        "the file's sha256; sent before `file` it lets storage write the bytes straight to "
        "their final key",
    )
    file = FilePart(
        required=True,
        metadata=about(
            "a .tar.gz/.tgz/.zip of a checkpoint or SavedModel directory, or one "
            ".pb/.h5/.keras/.tflite file"
        ),
    )
    example_inputs = FilePart(metadata=about(".npz keyed by input name, for the parity check"))

    @classmethod
    def file_fields(cls) -> tuple[str, ...]:
        return tuple(
            name for name, field in cls._declared_fields.items() if isinstance(field, FilePart)
        )

    @classmethod
    def options_of(cls, text_fields: dict[str, str]) -> UploadOptions:
        """The upload's options from its text fields (its files stream to storage)."""
        return load(cls(partial=cls.file_fields()), text_fields)

    @classmethod
    def declared_sha256(cls, fields_so_far: dict[str, str]) -> str | None:
        """The file's sha256, when a `sha256` field came before the file."""
        text = fields_so_far.get("sha256", "")
        if not text.strip():
            return None
        try:
            return cls._declared_fields["sha256"].deserialize(text)
        except ValidationError as error:
            raise refusal({"sha256": error.messages}) from error

    @pre_load
    def blank_means_absent(self, form: dict[str, str], **kwargs: Any) -> dict[str, str]:
        return {name: value for name, value in form.items() if value.strip()}

    @post_load
    def options(self, values: dict[str, Any], **kwargs: Any) -> UploadOptions:
        values.pop("sha256", None)
        return UploadOptions(**values)


class DirectUploadFile(Upload):
    """A new version whose file goes straight to storage in parts (S3 only): the file's name,
    size and sha256, and the text fields of an upload. Sent to start (or pick up) the upload
    and again, the same, to finish it."""

    class Meta(Body.Meta):
        exclude = Upload.file_fields()

    filename = Text(required=True, metadata=about("the file's name; its extension says its kind"))
    size = fields.Integer(
        required=True, validate=validate.Range(min=1), metadata=about("the file's size in bytes")
    )
    sha256 = Sha256(
        "the file's sha256, checked before any version refers to the bytes", required=True
    )

    @pre_load
    def blank_means_absent(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {
            name: value
            for name, value in body.items()
            if not isinstance(value, str) or value.strip()
        }

    @post_load
    def options(self, values: dict[str, Any], **kwargs: Any) -> DirectUploadRequest:
        declared = {name: values.pop(name) for name in ("filename", "size", "sha256")}
        sent = {part["number"]: part["etag"].strip('"') for part in values.pop("parts", ())}
        return DirectUploadRequest(**declared, options=UploadOptions(**values), parts=sent)


class SentPart(Body):
    """A part as the client sent it: its number and the ETag storage answered."""

    number = fields.Integer(required=True, validate=validate.Range(min=1))
    etag = Text(required=True)


class DirectUploadCompletion(DirectUploadFile):
    """The body that started a direct upload, and the ETag of each part: storage may hold
    more than one copy of a part sent twice, and joins the one named."""

    parts = fields.List(fields.Nested(SentPart), required=True)


class Paged(Query):
    cursor = Text(load_default="", metadata=about("`next_cursor` of the previous page"))


class DownloadQuery(Query):
    redirect = fields.Boolean(
        truthy={"true"},
        falsy={"false"},
        load_default=False,
        metadata=about(
            "answer 307 to a short-lived presigned storage URL instead of sending the bytes "
            "(S3 storage; a local store sends the bytes anyway)"
        ),
    )


class ModelQuery(Paged):
    q = Text(load_default="", metadata=about("only models whose name contains this text"))
    tag = Text(load_default="", metadata=about("`key:value`: only models with this tag"))


class AuditQuery(Paged):
    model = Text()
    actor = Text(metadata=about("a token name"))
    action = Text(metadata=about("an action (`alias.moved`) or a family (`job.*`)"))
    since = IsoTime("events at or after this time")
    until = IsoTime("events before this time")
    limit = fields.Integer(
        load_default=audit.PAGE_SIZE, metadata=about("events per page, clamped to 1-1000")
    )


class AliasHistoryQuery(Paged):
    limit = fields.Integer(
        load_default=alias_history.PAGE_SIZE, metadata=about("changes per page, clamped to 1-1000")
    )


class AsOf(Query):
    at = Text(
        metadata={
            "description": "with an alias: the version it named at this ISO 8601 time",
            "format": "date-time",
        }
    )


class CompareQuery(Query):
    with_ref = Text(
        required=True,
        data_key="with",
        metadata=about("the version to compare with: a number, an alias or `latest`"),
    )


class DeliveryQuery(Paged):
    limit = fields.Integer(
        load_default=outbox.PAGE_SIZE, metadata=about("deliveries per page, clamped to 1-1000")
    )


class LineageQuery(Query):
    format = one_of("json", "dot", load_default="json", metadata={"default": "json"})


class ServingQuery(Query):
    alias = fields.List(
        Text(), load_default=list, metadata=about("an alias whose version to include; repeatable")
    )
    version = fields.List(
        Text(validate=FullMatch("[0-9]+|latest", error="must be a number or latest")),
        load_default=list,
        metadata=about("a version number or `latest` to include; repeatable"),
    )
