"""Model cards: set by API (markdown or JSON) and CLI, taken from an uploaded SavedModel's
assets.extra/README.md until set by hand, bounded in size, and audited."""

from __future__ import annotations

import hashlib
import json

import pytest

from registry.client import BadRequest
from registry.vocabulary import MODEL_CARD_MAX_BYTES
from tests.cli.invoke import registry_cli
from tests.client.trees import savedmodel_tree

CARD = "# Digits\n\nA *small* CNN. Inputs: `images[?,28,28,1]`.\n"


def readme_url(registry, name: str) -> str:
    return registry.api(f"/models/{name}/readme")


def with_readme(directory, text: str):
    (directory / "assets.extra").mkdir()
    (directory / "assets.extra" / "README.md").write_text(text)
    return directory


def test_card_set_as_markdown_or_json_is_returned_with_the_model_and_audited(
    registry, client, model_name
):
    client.create_model(model_name)

    as_markdown = registry.http.put(
        readme_url(registry, model_name),
        data=CARD.encode(),
        headers={"Content-Type": "text/markdown; charset=utf-8"},
    )
    as_json = registry.http.put(readme_url(registry, model_name), json={"readme": CARD + "v2"})

    assert as_markdown.status_code == 200, as_markdown.text
    assert as_markdown.json()["description"] == CARD
    assert as_json.status_code == 200, as_json.text
    model = client.model(model_name)
    assert (model["description"], model["description_from_version"]) == (CARD + "v2", None)
    events = registry.http.get(
        registry.api("/audit"), params={"model": model_name, "action": "model.card_set"}
    ).json()["events"]
    assert [e["details"]["sha256"] for e in events] == [
        hashlib.sha256(text.encode()).hexdigest() for text in (CARD, CARD + "v2")
    ]
    assert {e["details"]["source"] for e in events} == {"set by hand"}


def test_card_over_the_limit_is_refused_as_too_large_and_the_old_one_stays(
    registry, client, model_name
):
    client.create_model(model_name)
    client.set_readme(model_name, CARD)

    too_large = registry.http.put(
        readme_url(registry, model_name),
        data=b"x" * (MODEL_CARD_MAX_BYTES + 1),
        headers={"Content-Type": "text/markdown"},
    )
    as_json = registry.http.put(
        readme_url(registry, model_name), json={"readme": "é" * (MODEL_CARD_MAX_BYTES // 2 + 1)}
    )
    wrong_type = registry.http.put(
        readme_url(registry, model_name), data=b"<p>", headers={"Content-Type": "text/html"}
    )

    for refused in (too_large, as_json):
        assert refused.status_code == 413
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert "at most 262144 bytes" in refused.json()["detail"]
    assert wrong_type.status_code == 422
    assert "text/markdown" in wrong_type.json()["detail"]
    assert client.model(model_name)["description"] == CARD


def test_uploaded_readme_becomes_the_card_until_one_is_set_by_hand(client, model_name, tmp_path):
    client.upload(model_name, with_readme(savedmodel_tree(tmp_path / "v1"), "first card"))
    first = client.model(model_name)
    client.upload(model_name, with_readme(savedmodel_tree(tmp_path / "v2"), "second card"))
    second = client.model(model_name)
    client.set_readme(model_name, CARD)
    client.upload(model_name, with_readme(savedmodel_tree(tmp_path / "v3"), "third card"))

    assert (first["description"], first["description_from_version"]) == ("first card", 1)
    assert (second["description"], second["description_from_version"]) == ("second card", 2)
    assert client.model(model_name)["description"] == CARD


def test_readme_commands_set_a_card_from_a_file_and_show_it(registry, client, model_name, tmp_path):
    client.create_model(model_name)
    card = tmp_path / "README.md"
    card.write_text(CARD)

    set_card = registry_cli(registry, "readme", "set", model_name, str(card))
    shown = registry_cli(registry, "readme", "show", model_name)
    as_json = registry_cli(registry, "readme", "show", model_name, "--json")
    missing = registry_cli(registry, "readme", "set", f"{model_name}-none", str(card))

    assert set_card.exit_code == 0, set_card.output
    assert f"set the card of {model_name} ({len(CARD)} bytes)" in set_card.stdout
    assert shown.stdout == CARD + "\n"
    assert json.loads(as_json.stdout)["description_from_version"] is None
    assert missing.exit_code == 2


def test_client_set_readme_over_the_limit_raises_the_registrys_413(client, model_name):
    client.create_model(model_name)

    with pytest.raises(BadRequest) as refused:
        client.set_readme(model_name, "x" * (MODEL_CARD_MAX_BYTES + 1))

    assert refused.value.status == 413
