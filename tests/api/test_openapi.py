"""The OpenAPI document: valid, complete, readable, and true of the answers the registry gives.

Real answers are checked with jsonschema against the schema the document declares for their
path, method, status and media type, after making every object schema refuse fields it does
not name: a field added to a response shape cannot go undocumented either.
"""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from apispec_webframeworks.flask import FlaskPlugin
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from registry import create_app
from registry.api.openapi import UNDOCUMENTED_METHODS, documented_rules
from registry.domain import jobs
from tests.conftest import bearer_session, sibling_registry
from tests.factories import (
    IMAGE_ONLY,
    TWO_INPUTS,
    add_variant_failing_parity,
    stored_version,
    upload_described,
)
from tests.files import fake_tflite

DOCUMENT_URI = "urn:registry-openapi"


def strict(document: dict) -> dict:
    """A copy in which object schemas refuse fields they do not name (unless they say they
    take any), with `allOf` parts merged so that each part's fields count for the whole."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]

    def merged(parts: list[dict]) -> dict:
        whole = {"type": "object", "properties": {}, "required": []}
        for part in parts:
            part = schemas[part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
            whole["properties"].update(part.get("properties", {}))
            whole["required"] += part.get("required", [])
            if part.get("additionalProperties") is True:
                whole["additionalProperties"] = True
        return whole

    def tighten(node):
        if isinstance(node, dict):
            if "allOf" in node:
                node.update(merged(node.pop("allOf")))
            if "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                tighten(value)
        elif isinstance(node, list):
            for value in node:
                tighten(value)

    tighten(schemas)
    return document


def path_pattern(template: str) -> re.Pattern:
    """`/models/{name}` as a regular expression matching `/models/mnist`."""
    literal = [re.escape(piece) for piece in re.split(r"\{[^}]+\}", template)]
    return re.compile("^" + "[^/]+".join(literal) + "$")


def pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


class Contract:
    """The document a live registry serves, and the check of one real answer against it."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.strict = strict(document)
        resource = Resource.from_contents(self.strict, default_specification=DRAFT202012)
        self.schemas = Registry().with_resource(DOCUMENT_URI, resource)
        self.templates = [(path_pattern(path), path) for path in document["paths"]]
        self.checked: list[tuple[str, str, str]] = []

    def template_of(self, path: str) -> str:
        matches = [template for regex, template in self.templates if regex.match(path)]
        assert matches, f"{path} matches no path of the document"
        return min(matches, key=lambda template: template.count("{"))

    def check(self, response: requests.Response) -> requests.Response:
        """Assert the answer is one the document declares, body and headers; return it."""
        method = response.request.method.lower()
        template = self.template_of(urlsplit(response.request.url).path)
        status = str(response.status_code)
        responses = self.document["paths"][template][method]["responses"]
        assert status in responses, f"{method.upper()} {template} answered {status}: undeclared"
        where = ("paths", template, method, "responses", status)
        declared = responses[status]
        if "$ref" in declared:
            where = tuple(declared["$ref"].removeprefix("#/").split("/"))
            declared = self.document["components"]["responses"][where[-1]]
        for header in declared.get("headers", {}):
            assert header in response.headers, f"{method.upper()} {template} {status}: {header}"
        if "content" not in declared:
            assert response.content == b""
        else:
            media = response.headers["Content-Type"].split(";")[0].strip()
            assert media in declared["content"], f"{method.upper()} {template} {status}: {media}"
            if media.endswith("json"):
                schema = {"$ref": DOCUMENT_URI + "#" + pointer(*where, "content", media, "schema")}
                validator = Draft202012Validator(
                    schema,
                    registry=self.schemas,
                    format_checker=Draft202012Validator.FORMAT_CHECKER,
                )
                errors = [
                    f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                    for e in validator.iter_errors(response.json())
                ]
                assert not errors, f"{method.upper()} {template} {status}:\n" + "\n".join(errors)
        self.checked.append((method, template, status))
        return response


@pytest.fixture
def contract(registry) -> Contract:
    answer = requests.get(registry.api("/openapi.json"))  # no token: the document is public
    answer.raise_for_status()
    return Contract(answer.json())


def test_document_is_valid_openapi_3_1_and_needs_no_token(registry, contract):
    validate(contract.document)

    assert contract.document["openapi"].startswith("3.1")
    assert "date-time" in Draft202012Validator.FORMAT_CHECKER.checkers  # times are checked


def test_every_route_the_app_serves_is_documented_with_its_success_answers(registry, contract):
    app = create_app(registry.settings, registry.services)
    paths = contract.document["paths"]

    served = [
        (rule, method.lower())
        for rule in documented_rules(app)
        for method in sorted(rule.methods - UNDOCUMENTED_METHODS)
    ]
    missing = []
    for rule, method in served:
        item = paths.get(FlaskPlugin.flaskpath2openapi(rule.rule), {})
        operation = item.get(method, {})
        succeeds = [code for code in operation.get("responses", {}) if code[0] in "23"]
        described = [
            contract.document["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
            for p in item.get("parameters", [])
            if "$ref" in p  # a path parameter without a component has no description
        ]
        if not succeeds or {p["name"] for p in described} != set(rule.arguments):
            missing.append(f"{method.upper()} {rule.rule}")

    assert not missing, f"undocumented (or no success answer): {missing}"
    assert {rule.rule for rule, _ in served if rule.rule.startswith("/api/v1/")} >= {
        "/api/v1/models/<name>/versions/<ref>/artifacts/<kind>",
        "/api/v1/openapi.json",
        "/api/v1/docs",
    }


def test_with_anonymous_reads_the_document_says_reads_need_no_token(registry):
    with sibling_registry(registry, anonymous_read=True) as open_registry:
        document = requests.get(open_registry.api("/openapi.json")).json()
        listed = Contract(document).check(requests.get(open_registry.api("/models")))

    assert document["paths"]["/api/v1/models"]["get"]["security"] == [{"bearer": ["read"]}, {}]
    assert document["paths"]["/api/v1/models"]["post"]["security"] == [{"bearer": ["write"]}]
    assert listed.status_code == 200


def test_docs_page_shows_every_operation_and_schema_and_fetches_nothing_else(registry, contract):
    page = requests.get(registry.api("/docs"))

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    for path, item in contract.document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                assert f'id="{operation["operationId"]}"' in page.text
                assert f">{path}</span>" in page.text
    for name in contract.document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert links and all(link.startswith("#") or link == "openapi.json" for link in links)
    assert "<script" not in page.text and "<link" not in page.text


def test_model_and_version_answers_conform(registry, contract, model_name, tmp_path):
    model_file = fake_tflite(tmp_path / "m.tflite")
    sha256 = hashlib.sha256(model_file.read_bytes()).hexdigest()
    http, check = registry.http, contract.check

    check(http.post(registry.api("/models"), json={"name": model_name, "tags": {"team": "a"}}))
    check(http.get(registry.api("/models"), params={"q": model_name}))
    uploaded = check(
        registry.upload(model_name, model_file, sha256=sha256, format="tflite", tags='{"a": 1}')
    )
    check(http.get(registry.api(f"/models/{model_name}")))
    check(http.get(registry.api(f"/models/{model_name}/versions")))
    check(http.get(registry.api(f"/models/{model_name}/versions/latest")))
    check(http.post(registry.api(f"/models/{model_name}/versions/1/conversions"), json={}))

    assert uploaded.status_code == 202
    assert uploaded.json()["artifacts"][0]["sha256"] == sha256
    statuses = [status for *_, status in contract.checked]
    assert statuses == ["201", "200", "202", "200", "200", "200", "202"]


def test_alias_lineage_and_reverse_lookup_answers_conform(registry, contract, model_name, tmp_path):
    """With a derived variant that failed parity and a failed job: edges, figures, refusals."""
    model_file = fake_tflite(tmp_path / "m.tflite")
    registry.upload(model_name, model_file).raise_for_status()
    add_variant_failing_parity(registry, model_name, 1)
    with registry.services.sessions.begin() as session:
        [job] = stored_version(session, model_name, 1).jobs
        jobs.fail(session, job, "the converter was killed", retry=False, max_attempts=1)
    sha256 = hashlib.sha256(model_file.read_bytes()).hexdigest()
    alias = registry.api(f"/models/{model_name}/aliases/production")
    http, check = registry.http, contract.check

    refused = check(http.put(alias, json={"version": 1}))
    forced = check(http.put(alias, json={"version": 1, "force": True}))
    version = check(http.get(registry.api(f"/models/{model_name}/versions/production")))
    check(http.get(registry.api(f"/models/{model_name}")))
    lineage = check(http.get(registry.api(f"/models/{model_name}/versions/1/lineage")))
    check(http.get(registry.api(f"/models/{model_name}/versions/1/lineage?format=dot")))
    holders = check(http.get(registry.api(f"/artifacts/{sha256}")))
    removed = check(http.delete(alias))

    assert (refused.status_code, forced.status_code, removed.status_code) == (409, 200, 204)
    assert version.json()["aliases"] == ["production"]
    assert lineage.json()["edges"] and lineage.json()["failed_conversions"]
    assert any(step["derived_by"] for h in holders.json()["holders"] for step in h["ancestry"])


def test_artifact_download_answers_conform(registry, contract, model_name, tmp_path):
    model_file = fake_tflite(tmp_path / "m.tflite")
    registry.upload(model_name, model_file).raise_for_status()
    url = registry.api(f"/models/{model_name}/versions/1/artifacts/tflite")
    http, check = registry.http, contract.check

    whole = check(http.get(url))
    part = check(http.get(url, headers={"Range": "bytes=0-9"}))
    check(http.get(url, headers={"If-None-Match": whole.headers["ETag"]}))
    check(http.get(url, headers={"Range": "bytes=999999-"}))
    check(http.get(registry.api(f"/models/{model_name}/serving"), params={"version": "1"}))

    assert whole.content == model_file.read_bytes() and len(part.content) == 10
    assert [status for *_, status in contract.checked] == ["200", "206", "304", "416", "409"]


def test_direct_upload_and_redirect_answers_conform(registry, contract, model_name, tmp_path):
    """S3 takes the parts and redirects downloads; a local store refuses and sends bytes."""
    data = fake_tflite(tmp_path / "m.tflite").read_bytes()
    body = {"filename": "m.tflite", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    uploads = registry.api(f"/models/{model_name}/uploads")
    http, check = registry.http, contract.check

    started = check(http.post(uploads, json=body))
    if started.status_code == 200:
        complete = f"{uploads}/{started.json()['id']}/complete"
        check(http.post(complete, json={**body, "parts": []}))
        [part] = started.json()["parts"]
        etag = requests.put(part["url"], data=data, timeout=30).headers["ETag"]
        check(http.post(complete, json={**body, "parts": [{"number": 1, "etag": etag}]}))
    else:
        registry.upload(model_name, tmp_path / "m.tflite").raise_for_status()
    url = registry.api(f"/models/{model_name}/versions/1/artifacts/tflite")
    check(http.get(url, params={"redirect": "true"}, allow_redirects=False))

    on_s3 = registry.settings.storage_url.startswith("s3://")
    statuses = [status for *_, status in contract.checked]
    assert statuses == (["200", "409", "202", "307"] if on_s3 else ["409", "200"])


def test_problem_answers_conform(registry, contract, model_name, tmp_path):
    reader = bearer_session(registry.issue_token(f"reader-{uuid.uuid4().hex[:8]}", "read"))
    http, check = registry.http, contract.check
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()

    answers = [
        check(requests.get(registry.api("/models"))),
        check(requests.get(registry.api("/models"), headers={"Authorization": "Bearer nope"})),
        check(reader.post(registry.api("/models"), json={"name": f"{model_name}-2"})),
        check(http.get(registry.api(f"/models/{model_name}/versions/7"))),
        check(http.get(registry.api("/models/no-such-model"))),
        check(http.post(registry.api("/models"), json={"name": model_name})),
        check(http.get(registry.api("/models"), params={"cursor": "%%%"})),
        check(http.post(registry.api(f"/models/{model_name}/versions"), files={"format": "x"})),
    ]

    assert [a.status_code for a in answers] == [401, 401, 403, 404, 404, 409, 422, 422]
    assert all(a.headers["Content-Type"] == "application/problem+json" for a in answers)


def test_audit_token_and_health_answers_conform(registry, contract, model_name):
    http, check = registry.http, contract.check
    name = f"ci-{uuid.uuid4().hex[:8]}"
    registry.http.post(registry.api("/models"), json={"name": model_name}).raise_for_status()

    page = check(http.get(registry.api("/audit"), params={"model": model_name}))
    check(http.get(registry.api("/audit/verify")))
    issued = check(http.post(registry.api("/tokens"), json={"name": name, "expires": "30d"}))
    check(http.get(registry.api("/tokens")))
    check(http.delete(registry.api(f"/tokens/{name}")))
    for path in ("/healthz", "/readyz", "/metrics"):
        check(requests.get(registry.url + path))
    check(requests.get(registry.api("/openapi.json")))

    assert page.json()["events"][0]["action"] == "model.created"
    assert issued.json()["token"] and issued.json()["status"] == "active"
    assert all(status[0] == "2" for *_, status in contract.checked)


def test_webhook_answers_conform(registry, contract):
    http, check = registry.http, contract.check
    body = {"url": "https://93.184.215.14/hooks", "events": ["version.ready"]}

    created = check(http.post(registry.api("/webhooks"), json=body))
    check(http.get(registry.api("/webhooks")))
    check(http.get(registry.api(f"/webhooks/{created.json()['id']}/deliveries")))
    check(http.delete(registry.api(f"/webhooks/{created.json()['id']}")))
    refused = check(http.post(registry.api("/webhooks"), json={**body, "url": "http://10.0.0.1/"}))

    assert created.status_code == 201 and refused.status_code == 422


def test_deletion_answers_conform(registry, contract, model_name, tmp_path):
    for number in (1, 2):
        registry.upload(model_name, fake_tflite(tmp_path / f"v{number}.tflite")).raise_for_status()
    model = registry.api(f"/models/{model_name}")
    http, check = registry.http, contract.check
    http.put(f"{model}/aliases/production", json={"version": 1}).raise_for_status()

    check(http.delete(f"{model}/versions/1"))
    check(http.delete(f"{model}/versions/2"))
    check(http.get(f"{model}/versions/2"))
    check(http.get(f"{model}/versions/2/artifacts/tflite"))
    check(http.delete(model))
    http.delete(f"{model}/aliases/production").raise_for_status()
    check(http.delete(model))
    check(http.get(model))

    statuses = [status for *_, status in contract.checked]
    assert statuses == ["409", "200", "410", "410", "409", "200", "410"]


def test_compatibility_alias_history_and_as_of_answers_conform(
    registry, contract, model_name, tmp_path
):
    """A breaking version refused and forced, compared, rolled back; the history and as-of."""
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, IMAGE_ONLY)
    registry.upload(model_name, fake_tflite(tmp_path / "v3.tflite")).raise_for_status()
    model = registry.api(f"/models/{model_name}")
    alias = f"{model}/aliases/production"
    http, check = registry.http, contract.check
    http.put(alias, json={"version": 1}).raise_for_status()

    check(http.put(alias, json={"version": 2}))
    check(http.put(alias, json={"version": 2, "force": True}))
    check(http.get(f"{model}/versions/1/compare", params={"with": "2"}))
    check(http.get(f"{model}/versions/1/compare", params={"with": "3"}))
    check(http.get(f"{model}/versions/2"))
    check(http.post(f"{alias}/rollback", json={"force": True}))
    history = check(http.get(f"{alias}/history", params={"limit": 2}))
    check(
        http.get(
            f"{model}/versions/production", params={"at": history.json()["changes"][0]["time"]}
        )
    )
    check(http.get(f"{model}/versions/production", params={"at": "yesterday"}))
    check(http.get(f"{model}/versions/production", params={"at": "2000-01-01T00:00:00Z"}))
    check(http.get(f"{model}/aliases/canary/history"))

    statuses = [status for *_, status in contract.checked]
    assert statuses == ["409", "200", "200", "409", "200", "200", "200", "200", "400", "404", "404"]
