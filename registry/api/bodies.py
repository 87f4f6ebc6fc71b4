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
from registry.domain.catalog.direct_uploads import DirectUploadRequest
from registry.domain.catalog.uploads import UploadOptions
from registry.domain.ledger import audit
from registry.domain.ledger.tokens import SCOPES
from registry.errors import InvalidRequest
from registry.vocabulary import SOURCE_KINDS, TARGET_KINDS


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
    try:
        body = parse_json(request.get_data(cache=True))
    except ValidationError as error:
        raise InvalidRequest(f"the body {' '.join(error.messages)}") from error
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object, {...}")
    return load(shape, body)


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


class AliasTarget(Body):
    """Where to point an alias."""

    version = VersionNumber(required=True)
    force = Flag(
        load_default=False,
        metadata=about("point it even at a version with failed variants"),
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
