"""What a browser's upload form sends, as the API reads it."""

from __future__ import annotations


def test_a_file_input_left_empty_is_no_file(registry_up, api, keras_sample):
    with open(keras_sample.path, "rb") as stream:
        answer = api.post(
            registry_up.page("/api/v1/models/empty-example/versions"),
            # A browser sends an empty file input as a part with no filename and no bytes.
            files={"file": (keras_sample.path.name, stream), "example_inputs": ("", b"")},
        )

    assert answer.status_code == 202, answer.text
    assert [a["kind"] for a in answer.json()["artifacts"]] == ["keras"]
