"""The OpenAPI 3.1 document of the HTTP API, built from the app's own routes and views.

What the code already says is read from it, not written again: the paths come from the URL
rules, their path parameters from the rules' arguments, each operation's summary from the
first line of its view's docstring, the scope it needs from `auth.needed_scope` (the very check
requests go through), and its tag from its blueprint. What only a person can say (parameters,
bodies, answers) is YAML after a `---` line in the view's docstring, read by apispec's
FlaskPlugin. The shared pieces are here, once: the schemas of the JSON shapes, the
problem+json answers, the path parameters and the bearer scheme.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from werkzeug.routing import Rule

from registry import __version__
from registry.api import auth
from registry.domain.inspection.detection import PACKAGINGS
from registry.domain.ledger.tokens import SCOPES
from registry.vocabulary import EXAMPLE_INPUTS_KIND, SOURCE_KINDS, TARGET_KINDS

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearer"
UNDOCUMENTED_METHODS = frozenset({"HEAD", "OPTIONS"})
_CACHE_KEY = "registry.openapi"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(about: str, optional: tuple[str, ...] = (), /, **properties: Any) -> dict[str, Any]:
    """An object schema whose properties are all always present, except `optional` ones."""
    return {
        "type": "object",
        **({"description": about} if about else {}),
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


def text(description: str = "", **more: Any) -> dict[str, Any]:
    return {"type": "string", **({"description": description} if description else {}), **more}


def page_of(field: str, item: str) -> dict[str, Any]:
    """One page of a paginated list: `{field: [...], next_cursor}`."""
    return obj(
        f"A page of {field}.",
        **{field: {"type": "array", "items": ref(item)}},
        next_cursor=nullable(text("pass as `cursor` for the next page; null on the last")),
    )


INTEGER = {"type": "integer"}
TIME = text(format="date-time")
ANY_OBJECT = {"type": "object", "additionalProperties": True}
NAME = text("1-128 letters, digits, `.`, `_`, `-`", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA256 = text("lowercase hex", pattern="^[0-9a-f]{64}$")
ARTIFACT_KINDS = [*SOURCE_KINDS, *[k for k in TARGET_KINDS if k not in SOURCE_KINDS]]
ARTIFACT_KIND = text(enum=[*ARTIFACT_KINDS, EXAMPLE_INPUTS_KIND])
PARITY = nullable({**ANY_OBJECT, "description": "the parity check's figures"})

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        **obj(
            "An error (RFC 9457). Extension members may follow, e.g. `failures`.",
            type=text("identifies the kind of problem", format="uri-reference"),
            title=text("short, the same for every problem of this type"),
            status={"type": "integer", "minimum": 400, "maximum": 599},
            detail=text("what happened and what to change"),
            instance=text("the request path", format="uri-reference"),
        ),
        "additionalProperties": True,
    },
    "Model": obj(
        "A named model; its versions are numbered from 1.",
        name=NAME,
        description=text(),
        tags=ANY_OBJECT,
        created_at=TIME,
        created_by=text("the actor (token name) that created it"),
        aliases={
            "type": "object",
            "additionalProperties": INTEGER,
            "description": "alias: version",
        },
        latest_version=nullable({**INTEGER, "description": "filled in by GET /models/{name}"}),
    ),
    "ModelList": page_of("models", "Model"),
    "NewModel": obj(
        "A model to create.",
        ("description", "tags"),
        name=NAME,
        description=text(),
        tags=ANY_OBJECT,
    ),
    "Artifact": obj(
        "Stored bytes of a version: the upload or a converted variant.",
        kind=ARTIFACT_KIND,
        sha256=SHA256,
        size=INTEGER,
        packaging=text("directory kinds come as archives", enum=list(PACKAGINGS)),
        filename=text(),
        derived_from=nullable(text("kind of the artifact it was converted from")),
        job_id=nullable(INTEGER),
        facts={**ANY_OBJECT, "description": "tensor details, needs_flex, quantization..."},
        parity=PARITY,
        parity_passed={"type": ["boolean", "null"]},
        download_url=text(format="uri"),
    ),
    "Job": obj(
        "A conversion of a version's source into one target kind.",
        id=INTEGER,
        target=text(enum=[*TARGET_KINDS, "describe"]),
        status=text(enum=["queued", "running", "succeeded", "failed"]),
        error=text(),
        attempts=INTEGER,
        created_at=TIME,
        started_at=nullable(TIME),
        finished_at=nullable(TIME),
        outcome={**ANY_OBJECT, "description": "steps, converter versions, options used..."},
    ),
    "Version": obj(
        "An immutable model version, its signature, artifacts and conversion jobs.",
        model=NAME,
        version=INTEGER,
        status=text(enum=["pending", "converting", "ready", "failed"]),
        status_detail=text(),
        source_kind=text(enum=list(SOURCE_KINDS)),
        source_filename=text(),
        signature=nullable({**ANY_OBJECT, "description": "inputs and outputs, once described"}),
        options={**ANY_OBJECT, "description": "conversion options given at upload"},
        tags=ANY_OBJECT,
        aliases={"type": "array", "items": text()},
        created_at=TIME,
        created_by=text(),
        artifacts={"type": "array", "items": ref("Artifact")},
        jobs={"type": "array", "items": ref("Job")},
    ),
    "VersionList": page_of("versions", "Version"),
    "Upload": obj(
        "A new version. Text fields go before `file`; lists are comma-separated.",
        (
            "format",
            "output_nodes",
            "input_nodes",
            "input_shapes",
            "targets",
            "tags",
            "signature_key",
            "saved_model_tags",
            "sha256",
            "example_inputs",
        ),
        format=text("what `file` is", enum=["auto", *SOURCE_KINDS], default="auto"),
        output_nodes=text("checkpoint output node names, e.g. `probs,logits`"),
        input_nodes=text("input node names, e.g. `images`"),
        input_shapes=text('`{"images": [1, 16, 16, 2]}` or `images:1,16,16,2`'),
        targets=text(f"extra conversions: {', '.join(TARGET_KINDS)}"),
        tags=text("a JSON object"),
        signature_key=text("SavedModel signature to convert (default `serving_default`)"),
        saved_model_tags=text("SavedModel MetaGraph tags, e.g. `serve`"),
        sha256={
            **SHA256,
            "description": "the file's sha256; sent before `file` it lets "
            "storage write the bytes straight to their final key",
        },
        file=text(
            "a .tar.gz/.tgz/.zip of a checkpoint or SavedModel directory, or one "
            ".pb/.h5/.keras/.tflite file",
            contentMediaType="application/octet-stream",
        ),
        example_inputs=text(
            ".npz keyed by input name, for the parity check",
            contentMediaType="application/octet-stream",
        ),
    ),
    "ConversionRequest": obj(
        "Conversions to (re)run; empty or absent: the defaults for the source kind.",
        ("targets",),
        targets={"type": "array", "items": text(enum=[*TARGET_KINDS, "describe"])},
    ),
    "Alias": obj(
        "A named pointer at a version.",
        model=NAME,
        alias=NAME,
        version=INTEGER,
        updated_at=TIME,
        updated_by=text(),
    ),
    "AliasTarget": obj(
        "Where to point an alias.",
        ("force",),
        version=INTEGER,
        force={
            "type": "boolean",
            "default": False,
            "description": "point it even at a version with failed variants",
        },
    ),
    "LineageNode": obj(
        "An artifact in the derivation graph.",
        id=text("the artifact's kind, unique within a version"),
        kind=ARTIFACT_KIND,
        sha256=SHA256,
        size=INTEGER,
        packaging=text(enum=list(PACKAGINGS)),
        filename=text(),
        origin=text(enum=["upload", "conversion"]),
        created_at=TIME,
        created_by=text(),
    ),
    "LineageEdge": obj(
        "The conversion that derived `to` from `from`.",
        **{"from": text(), "to": text()},
        job_id=nullable(INTEGER),
        steps={"type": "array", "items": text()},
        converter_versions={**ANY_OBJECT, "description": "TensorFlow, registry, Python..."},
        options=ANY_OBJECT,
        worker=text(),
        worker_host=text(),
        task_id=text("Celery task id"),
        attempts=nullable(INTEGER),
        started_at=nullable(TIME),
        finished_at=nullable(TIME),
        reused_from_job=nullable(INTEGER),
        parity=PARITY,
        parity_passed={"type": ["boolean", "null"]},
        actor=text("who caused the conversion"),
    ),
    "Lineage": obj(
        "A version's derivation graph.",
        model=NAME,
        version=INTEGER,
        status=text(),
        uploaded_by=text(),
        uploaded_at=TIME,
        example_inputs_sha256=nullable(SHA256),
        nodes={"type": "array", "items": ref("LineageNode")},
        edges={"type": "array", "items": ref("LineageEdge")},
        failed_conversions={
            "type": "array",
            "items": obj(
                "A conversion whose latest attempt failed.",
                target=text(),
                job_id=INTEGER,
                error=text(),
                actor=text(),
            ),
        },
    ),
    "ArtifactHolders": obj(
        "The versions holding some bytes, each with its ancestry back to the upload.",
        sha256=SHA256,
        holders={
            "type": "array",
            "items": obj(
                "One version holding the bytes.",
                model=NAME,
                version=INTEGER,
                kind=ARTIFACT_KIND,
                status=text(),
                aliases={"type": "array", "items": text()},
                uploaded_by=text(),
                uploaded_at=TIME,
                source_filename=text(),
                ancestry={
                    "type": "array",
                    "items": obj(
                        "A step back, from the artifact asked about to the uploaded one.",
                        artifact=ref("LineageNode"),
                        derived_by=nullable(ref("LineageEdge")),
                    ),
                },
            ),
        },
    ),
    "AuditEvent": obj(
        "One change; `hash` = sha256(prev_hash + canonical JSON of the other fields).",
        seq=INTEGER,
        time=TIME,
        actor=text(),
        action=text("e.g. `version.uploaded`, `alias.moved`, `job.failed`"),
        subject=text("e.g. `model/mnist/version/3`"),
        model=nullable(text()),
        details=ANY_OBJECT,
        prev_hash=text(pattern="^[0-9a-f]{64}$"),
        hash=SHA256,
    ),
    "AuditPage": page_of("events", "AuditEvent"),
    "ChainVerification": obj(
        "The audit chain recomputed.",
        ("head_hash", "first_bad_seq", "reason"),
        ok={"type": "boolean"},
        events={"type": "integer", "description": "how many events were checked"},
        head_hash=text("the last event's hash, when ok"),
        first_bad_seq={"type": "integer", "description": "the first event that does not verify"},
        reason=text(),
    ),
    "Token": obj(
        "An access token as listed: never its secret.",
        name=NAME,
        scope=text(enum=list(SCOPES)),
        prefix=text("the secret's first characters"),
        status=text(enum=["active", "revoked", "expired"]),
        created_at=TIME,
        created_by=text(),
        expires_at=nullable(TIME),
        revoked_at=nullable(TIME),
        revoked_by=nullable(text()),
    ),
    "IssuedToken": {
        "allOf": [ref("Token"), obj("", token=text("the secret, shown this once"))],
        "description": "A new token with its secret.",
    },
    "TokenList": obj("Every token.", tokens={"type": "array", "items": ref("Token")}),
    "NewToken": obj(
        "A token to create.",
        ("scope", "expires"),
        name=NAME,
        scope=text("scopes nest: admin > write > read", enum=list(SCOPES), default="read"),
        expires=text("`30d`, `12h` or an ISO time; absent: never"),
    ),
    "AliasRefusal": {
        "allOf": [
            ref("Problem"),
            obj(
                "",
                failures={
                    "type": "array",
                    "items": {**ANY_OBJECT, "required": ["kind", "problem", "summary"]},
                },
            ),
        ],
        "description": "A refused alias move and the failures behind it.",
    },
    "Health": obj("The process answers.", status=text(enum=["ok"])),
    "Readiness": obj(
        "Every backing service answers.",
        status=text(enum=["ready"]),
        database=text(enum=["ok"]),
        storage=text(enum=["ok"]),
        broker=text(enum=["ok"]),
    ),
}


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
    "NotFound": _problem("No such model, version, alias, artifact or token."),
    "Conflict": _problem("Conflicts with what exists (a name taken, no SavedModel to serve)."),
    "AliasRefused": _problem(
        'The version has failed variants; send `"force": true` to point the alias anyway. '
        "`failures` holds each failure's figures.",
        "AliasRefusal",
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

HEADERS: dict[str, dict[str, Any]] = {
    "Location": {"description": "URL of the version", "schema": text(format="uri-reference")},
    "ETag": {"description": "the sha256, quoted", "schema": text()},
    "ReprDigest": {"description": "`sha-256=:<base64>:` (RFC 9530)", "schema": text()},
    "ContentRange": {"description": "`bytes first-last/size`", "schema": text()},
    "RetryAfter": {"description": "seconds", "schema": INTEGER},
    "WWWAuthenticate": {"description": '`Bearer realm="registry"`', "schema": text()},
}

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "ModelName": {"name": "name", "description": "the model's name", "schema": NAME},
    "TokenName": {"name": "name", "description": "the token's name", "schema": NAME},
    "VersionRef": {
        "name": "ref",
        "description": "a version number, an alias or `latest`",
        "schema": text(),
        "examples": {"number": {"value": "3"}, "alias": {"value": "production"}},
    },
    "AliasName": {
        "name": "alias",
        "description": "an alias name: not a number, not `latest`",
        "schema": NAME,
    },
    "ArtifactKind": {"name": "kind", "description": "which variant", "schema": ARTIFACT_KIND},
    "Sha256": {
        "name": "sha256",
        "description": "64 hex digits, either case",
        "schema": text(pattern="^[0-9a-fA-F]{64}$"),
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
}
QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "Cursor": {
        "name": "cursor",
        "description": "`next_cursor` of the previous page",
        "schema": text(),
    },
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
    """The routes the document describes: all of them but Flask's static files."""
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"),
        key=lambda rule: rule.rule,
    )


def build_document(app: Flask) -> dict[str, Any]:
    plugin = RegistryFlaskPlugin(app)
    spec = APISpec(
        title="TensorFlow model registry",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": "Versioned TensorFlow model uploads, verified conversions to frozen "
            ".pb, SavedModel and TFLite, and export lineage. Errors are "
            "`application/problem+json`; every response carries `X-Request-ID`."
        },
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in PATH_PARAMETERS.items():
        spec.components.parameter(name, "path", parameter)
    for name, parameter in QUERY_PARAMETERS.items():
        spec.components.parameter(name, "query", parameter)
    spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `registry token create` or `POST /api/v1/tokens`. "
            "Scopes nest: `read` (GET), `write` (uploads, models, re-runs), `admin` (aliases, "
            "tokens); each operation lists the one it needs.",
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
