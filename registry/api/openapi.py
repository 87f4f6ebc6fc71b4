"""The OpenAPI 3.1 document of the HTTP API, built from the app's own routes and views.

What the code already says is read from it, not written again: the paths come from the URL
rules, their path parameters from the rules' arguments, each operation's summary from the
first line of its view's docstring, the scope it needs from `auth.needed_scope` (the very check
requests go through), and its tag from its blueprint. The schemas are the marshmallow classes
the views load requests and dump answers through (`bodies`, `shapes`), published by apispec's
MarshmallowPlugin. What only a person can say (which body, query and answers an operation has)
is YAML after a `---` line in the view's docstring, read by apispec's FlaskPlugin. The shared
pieces are here, once: the problem+json answers, headers, path parameters and the bearer scheme.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow.common import resolve_schema_instance
from apispec.ext.marshmallow.field_converter import DEFAULT_FIELD_MAPPING
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from registry import __version__
from registry.api import auth, bodies, shapes
from registry.api.fields import Computed, FilePart, Name

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearer"
UNDOCUMENTED_METHODS = frozenset({"HEAD", "OPTIONS"})
# Endpoints of the web pages (HTML for people, not the API the document describes).
WEB_PAGES = "web."
# Routes of one model: each answers 410 Gone once the model (or the version named) is deleted.
MODEL_RULE = "/api/v1/models/<name>"
_CACHE_KEY = "registry.openapi"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


class ShapeConverter(OpenAPIConverter):
    """apispec's converter, plus what our shapes say beyond marshmallow's own terms."""

    # Marshmallow's URL field holds an absolute URI; "url" is no JSON Schema format.
    field_mapping = {**DEFAULT_FIELD_MAPPING, fields.Url: ("string", "uri")}

    def init_attribute_functions(self) -> None:
        super().init_attribute_functions()
        self.attribute_functions.append(self.special_field2properties)

    def special_field2properties(self, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
        if isinstance(field, FilePart):
            return {"type": "string", "contentMediaType": field.media_type}
        if isinstance(field, Computed):
            return self.field2property(field.like)
        return {}

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        """The shape's docstring as its description; an answer's fields as always present."""
        jsonschema = super().schema2jsonschema(schema)
        shape = resolve_schema_instance(schema)
        jsonschema["description"] = _docstring_text(type(shape).__doc__)[0]
        if isinstance(shape, shapes.Answer):
            jsonschema["required"] = [
                field.data_key or name
                for name, field in shape.fields.items()
                if not field.metadata.get("sometimes_absent")
            ]
        return {"description": jsonschema.pop("description"), **jsonschema}


class ShapesPlugin(MarshmallowPlugin):
    Converter = ShapeConverter


def published_shapes() -> list[type[Schema]]:
    """The answers and request bodies, in the order their modules declare them."""
    return [
        shape
        for module, base in ((shapes, shapes.Answer), (bodies, bodies.Body))
        for shape in vars(module).values()
        if isinstance(shape, type) and issubclass(shape, base) and shape is not base
    ]


def _problem(description: str, schema: str = "Problem", **headers: str) -> dict[str, Any]:
    answer = {
        "description": description,
        "content": {"application/problem+json": {"schema": ref(schema)}},
    }
    if headers:
        answer["headers"] = headers
    return answer


RESPONSES: dict[str, dict[str, Any]] = {
    "Problem": _problem("Any other error, e.g. 503 while a backing service is down."),
    "Invalid": _problem("The request cannot be used as sent; `detail` says what to change."),
    "NotFound": _problem("No such model, version, alias, artifact, token or webhook."),
    "Conflict": _problem("Conflicts with what exists (a name taken, no SavedModel to serve)."),
    "AliasRefused": _problem(
        "The version has failed variants, or its signature breaks clients of the version the "
        'alias names now; send `"force": true` to point the alias anyway. `failures` holds '
        "each failure's figures, `breaking` each breaking change.",
        "AliasRefusal",
    ),
    "Aliased": _problem(
        "Aliases point at it: `aliases` names each with its version; move or remove them first.",
        "AliasedRefusal",
    ),
    "Gone": _problem(
        "The model or version was deleted: `deleted_at` and `deleted_by` say when and by whom.",
        "Deleted",
    ),
    "RangeNotSatisfiable": _problem(
        "The range lies outside the file; `Content-Range` gives its size.",
        **{"Content-Range": "ContentRange"},
    ),
    "TooLarge": _problem("Over a size limit (REGISTRY_MAX_UPLOAD_BYTES, archive limits)."),
    "Unsupported": _problem("Not a format the registry accepts, or not the declared one."),
    "Unavailable": _problem(
        "Not ready: `detail` names each part that is down.", **{"Retry-After": "RetryAfter"}
    ),
    "Unauthorized": _problem(
        "No token, or an unknown, revoked or expired one.",
        **{"WWW-Authenticate": "WWWAuthenticate"},
    ),
    "Forbidden": _problem("The token's scope does not cover this operation."),
}

STRING = {"type": "string"}
HEADERS: dict[str, dict[str, Any]] = {
    "Location": {
        "description": "URL of the version",
        "schema": {**STRING, "format": "uri-reference"},
    },
    "ETag": {"description": "the sha256, quoted", "schema": STRING},
    "AnswerETag": {"description": "a hash of the answer; changes with it", "schema": STRING},
    "ReprDigest": {"description": "`sha-256=:<base64>:` (RFC 9530)", "schema": STRING},
    "ContentRange": {"description": "`bytes first-last/size`", "schema": STRING},
    "RetryAfter": {"description": "seconds", "schema": {"type": "integer"}},
    "WWWAuthenticate": {"description": '`Bearer realm="registry"`', "schema": STRING},
}


def path_parameters(converter: OpenAPIConverter) -> dict[str, dict[str, Any]]:
    name = converter.field2property(Name())
    return {
        "ModelName": {"name": "name", "description": "the model's name", "schema": name},
        "TokenName": {"name": "name", "description": "the token's name", "schema": name},
        "VersionRef": {
            "name": "ref",
            "description": "a version number, an alias or `latest`",
            "schema": {"type": "string"},
            "examples": {"number": {"value": "3"}, "alias": {"value": "production"}},
        },
        "AliasName": {
            "name": "alias",
            "description": "an alias name: not a number, not `latest`",
            "schema": name,
        },
        "ArtifactKind": {
            "name": "kind",
            "description": "which variant",
            "schema": converter.field2property(shapes.artifact_kind()),
        },
        "WebhookId": {
            "name": "webhook_id",
            "description": "the webhook's id",
            "schema": {"type": "integer", "minimum": 1},
        },
        "Sha256": {
            "name": "sha256",
            "description": "64 hex digits, either case",
            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        },
        "UploadId": {
            "name": "upload_id",
            "description": "a direct upload's `id`",
            "schema": {"type": "string"},
        },
    }


# Which of them a URL rule's argument is: by `blueprint.argument` first, else by argument.
ARGUMENTS = {
    "name": "ModelName",
    "tokens.name": "TokenName",
    "ref": "VersionRef",
    "alias": "AliasName",
    "kind": "ArtifactKind",
    "sha256": "Sha256",
    "webhook_id": "WebhookId",
    "upload_id": "UploadId",
}


class RegistryFlaskPlugin(FlaskPlugin):
    """FlaskPlugin, plus what every operation can take from the code rather than from YAML."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    def operation_helper(self, path=None, operations=None, *, view=None, rule=None, **kwargs):
        summary, description = _docstring_text(view.__doc__)
        for method in sorted(rule.methods - UNDOCUMENTED_METHODS):
            operation = operations.setdefault(method.lower(), {})
            operation.setdefault("operationId", rule.endpoint)
            operation.setdefault("tags", [_tag_of(rule)])
            operation.setdefault("summary", summary)
            if description:
                operation.setdefault("description", description)
            responses = operation.setdefault("responses", {})
            scope = _needed_scope(self.app, rule, method)
            if scope is None:
                operation["security"] = []
            else:
                anonymous = scope == "read" and _settings(self.app).anonymous_read
                operation["security"] = [{SECURITY_SCHEME: [scope]}] + ([{}] if anonymous else [])
                responses.setdefault(401, "Unauthorized")
                if scope != "read":
                    responses.setdefault(403, "Forbidden")
            if rule.rule.startswith(MODEL_RULE):
                responses.setdefault(410, "Gone")
            responses.setdefault("default", "Problem")
            operation["responses"] = dict(sorted(responses.items(), key=_status_order))


def _docstring_text(docstring: str | None) -> tuple[str, str]:
    """The summary (first paragraph) and description (the rest) before the `---` line."""
    prose = inspect.cleandoc(docstring or "").split("\n---", 1)[0].strip()
    first, _, rest = prose.partition("\n\n")
    return " ".join(first.split()), rest.strip()


def _status_order(item: tuple[int | str, Any]) -> tuple[bool, str]:
    return str(item[0]) == "default", str(item[0])


def _tag_of(rule: Rule) -> str:
    return rule.endpoint.partition(".")[0]


def _needed_scope(app: Flask, rule: Rule, method: str) -> str | None:
    """Ask the access check itself, on a request to this rule."""
    path = app.url_map.bind("registry.invalid").build(
        rule.endpoint, dict.fromkeys(rule.arguments, "1"), method=method
    )
    with app.test_request_context(path, method=method):
        return auth.needed_scope()


def _settings(app: Flask):
    return app.extensions["registry"].settings


def documented_rules(app: Flask) -> list[Rule]:
    """The routes the document describes: all of them but static files and the web pages."""
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" and not rule.endpoint.startswith(WEB_PAGES)
        ),
        key=lambda rule: rule.rule,
    )


def build_document(app: Flask) -> dict[str, Any]:
    plugin = RegistryFlaskPlugin(app)
    shapes_plugin = ShapesPlugin()
    spec = APISpec(
        title="TensorFlow model registry",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin, shapes_plugin],
        info={
            "description": "Versioned TensorFlow model uploads, verified conversions to frozen "
            ".pb, SavedModel and TFLite, and export lineage. Errors are "
            "`application/problem+json`; every response carries `X-Request-ID`."
        },
    )
    for shape in published_shapes():
        spec.components.schema(shape.__name__, schema=shape)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in path_parameters(shapes_plugin.converter).items():
        spec.components.parameter(name, "path", parameter)
    spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `registry token create` or `POST /api/v1/tokens`. "
            "Scopes nest: `read` (GET), `write` (uploads, models, re-runs), `admin` (aliases, "
            "tokens, webhooks); each operation lists the one it needs.",
        },
    )
    tags = {}
    for rule in documented_rules(app):
        view = app.view_functions[rule.endpoint]
        tags.setdefault(_tag_of(rule), _docstring_text(sys.modules[view.__module__].__doc__)[0])
        spec.path(view=view, app=app, rule=rule, parameters=_path_parameters(rule))
    # In the order the blueprints were registered: the API's areas as `api.register` lists them.
    order = list(app.blueprints)
    for name in sorted(tags, key=lambda tag: order.index(tag) if tag in order else len(order)):
        spec.tag({"name": name, "description": tags[name]})
    return spec.to_dict()


def _path_parameters(rule: Rule) -> list[str | dict[str, Any]]:
    """The rule's arguments, in path order, as components (a bare string when none fits)."""
    arguments = sorted(rule.arguments, key=lambda argument: rule.rule.index(f"{argument}>"))
    return [
        ARGUMENTS.get(f"{_tag_of(rule)}.{a}")
        or ARGUMENTS.get(a)
        or {"name": a, "in": "path", "schema": {"type": "string"}}
        for a in arguments
    ]


def document_of(app: Flask) -> dict[str, Any]:
    """The app's document, built on first use: routes are all registered by then."""
    if _CACHE_KEY not in app.extensions:
        app.extensions[_CACHE_KEY] = build_document(app)
    return app.extensions[_CACHE_KEY]
