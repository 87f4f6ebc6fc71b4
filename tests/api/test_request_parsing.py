"""Requests the registry cannot use are refused as 422 (or 404) problems naming what to change,
never a 500: NUL characters, numbers no column holds, deep JSON, the wrong JSON type."""

from __future__ import annotations

import pytest

from tests.files import fake_tflite

DEEP = 1000
JSON_HEADERS = {"Content-Type": "application/json"}


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    for word in words:
        assert word in response.json()["detail"]


@pytest.fixture
def uploaded(registry, model_name, tmp_path) -> str:
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()
    return model_name


def test_nul_in_a_query_string_is_refused(registry):
    answer = registry.http.get(registry.api("/models"), params={"q": "\x00"})

    assert_refused(answer, 422, "q:", "NUL")


def test_nul_in_a_json_string_or_key_is_refused(registry, model_name):
    models = registry.api("/models")

    in_text = registry.http.post(models, json={"name": model_name, "description": "a\x00b"})
    in_tag_key = registry.http.post(models, json={"name": model_name, "tags": {"\x00": 1}})

    assert_refused(in_text, 422, "description:", "NUL")
    assert_refused(in_tag_key, 422, "tags:", "NUL")
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404


def test_an_integer_beyond_64_bits_in_a_json_object_is_refused(registry, model_name):
    body = f'{{"name": "{model_name}", "tags": {{"big": [-30682662312636756235649024]}}}}'
    largest = f'{{"name": "{model_name}", "tags": {{"big": {2**64 - 1}}}}}'

    too_big = registry.http.post(registry.api("/models"), data=body, headers=JSON_HEADERS)
    fits = registry.http.post(registry.api("/models"), data=largest, headers=JSON_HEADERS)

    assert_refused(too_big, 422, "tags:", "64 bits")
    assert fits.status_code == 201, fits.text
    assert fits.json()["tags"] == {"big": 2**64 - 1}


def test_nul_in_a_path_finds_nothing(registry, uploaded):
    assert_refused(registry.http.get(registry.api("/models/a%00b")), 404)
    assert_refused(registry.http.get(registry.api(f"/models/{uploaded}/versions/a%00b")), 404)


def test_alias_version_too_large_for_the_column_is_refused(registry, uploaded):
    alias = registry.api(f"/models/{uploaded}/aliases/production")

    answer = registry.http.put(
        alias, data='{"version": 3175816687105296200066567788}', headers=JSON_HEADERS
    )

    assert_refused(answer, 422, "version:")


@pytest.mark.parametrize("ref", ["2147483648", "99999999999999999999999999", "%C2%B2", "%D9%A3"])
def test_version_refs_no_version_can_have_are_not_found(registry, uploaded, ref):
    """Past the column's range, superscript `²` and Arabic-Indic `٣`: digits to str.isdigit."""
    answer = registry.http.get(registry.api(f"/models/{uploaded}/versions/{ref}"))

    assert_refused(answer, 404, "has no version")


def test_json_body_nested_a_thousand_deep_is_refused(registry, model_name):
    body = f'{{"name": "{model_name}", "tags": {{"deep": {nested_json(DEEP)}}}}}'

    answer = registry.http.post(registry.api("/models"), data=body, headers=JSON_HEADERS)

    assert_refused(answer, 422, "deeper")


@pytest.mark.parametrize(
    "field, value",
    [
        ("tags", f'{{"deep": {nested_json(DEEP)}}}'),
        ("input_shapes", f'{{"images": {nested_json(DEEP)}}}'),
        ("tags", '{"team": "a\\u0000b"}'),
    ],
)
def test_upload_fields_with_deep_or_nul_json_are_refused(
    registry, model_name, tmp_path, field, value
):
    answer = registry.upload(model_name, fake_tflite(tmp_path / "m.tflite"), **{field: value})

    assert_refused(answer, 422, f"{field}:")
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404


def test_upload_names_an_unknown_form_field(registry, model_name, tmp_path):
    answer = registry.upload(model_name, fake_tflite(tmp_path / "m.tflite"), output_node="probs")

    assert_refused(answer, 422, "output_node:")


def test_conversion_request_that_is_a_json_array_is_refused(registry, uploaded):
    answer = registry.http.post(
        registry.api(f"/models/{uploaded}/versions/1/conversions"), json=["tflite"]
    )

    assert_refused(answer, 422, "JSON object")


def test_method_not_allowed_says_which_are(registry):
    answer = registry.http.delete(registry.api("/models"))

    assert_refused(answer, 405)
    assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_problem_instance_is_the_path_percent_encoded(registry):
    answer = registry.http.get(registry.api("/models/a%20b%25c%C3%A9/versions"))

    assert answer.status_code == 404
    assert answer.json()["instance"] == "/api/v1/models/a%20b%25c%C3%A9/versions"


@pytest.mark.parametrize("path", ["/tokens/a%00b", "/models/{model}/aliases/a%00b"])
def test_delete_of_a_name_holding_nul_finds_nothing(registry, uploaded, path):
    answer = registry.http.delete(registry.api(path.format(model=uploaded)))

    assert_refused(answer, 404)


@pytest.mark.parametrize("bound", ["since", "until"])
def test_blank_audit_time_is_refused(registry, bound):
    answer = registry.http.get(registry.api("/audit"), params={bound: ""})

    assert_refused(answer, 422, f"{bound}:", "ISO 8601")


@pytest.mark.parametrize(
    "path, body",
    [
        ("/models", {"name": "nl-model\n"}),
        ("/models", {"name": "a" * 128 + "\n"}),
        ("/tokens", {"name": "nl-token\n"}),
    ],
)
def test_name_ending_in_a_newline_is_refused_as_the_field(registry, path, body):
    answer = registry.http.post(registry.api(path), json=body)

    assert_refused(answer, 422, "name: use 1-128 characters")


def test_serving_version_ending_in_a_newline_is_refused(registry, uploaded):
    answer = registry.http.get(
        registry.api(f"/models/{uploaded}/serving"), params={"version": "1\n"}
    )

    assert_refused(answer, 422, "must be a number or latest")
