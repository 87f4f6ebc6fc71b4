"""Searching models by tag and name: answered from the tags index, a page at a time."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from registry.db.models import ModelTag
from registry.domain import catalog
from registry.domain.catalog.models import PAGE_SIZE


def create_models(registry, names: list[str], tags: dict) -> None:
    with registry.services.sessions.begin() as session:
        for name in names:
            catalog.create_model(session, name, tags=tags, actor="tests")


def search(registry, **params) -> tuple[list[str], int]:
    """Every model name a search finds, following its cursor, and how many pages it took."""
    found, pages = [], 0
    while True:
        page = registry.http.get(registry.api("/models"), params=params)
        assert page.status_code == 200, page.text
        found += [model["name"] for model in page.json()["models"]]
        pages += 1
        if not page.json()["next_cursor"]:
            return found, pages
        params = {**params, "cursor": page.json()["next_cursor"]}


@pytest.fixture
def tagged(registry):
    """Models under a fresh tag key: many with a common value, a few with a rare one."""
    key = f"team-{uuid.uuid4().hex[:8]}"
    prefix = f"s-{uuid.uuid4().hex[:6]}"
    # Interleaved in name order, so a page of the common tag skips over rare ones.
    common = [f"{prefix}-{i:03d}" for i in range(2 * PAGE_SIZE + 7) if i % 40 != 5]
    rare = [f"{prefix}-{i:03d}" for i in range(2 * PAGE_SIZE + 7) if i % 40 == 5]
    create_models(registry, common, {key: "vision", "owner": "ml"})
    create_models(registry, rare, {key: "nlp"})
    return key, prefix, common, rare


def test_a_common_tag_is_paged_in_name_order_with_every_match_once(registry, tagged):
    key, _, common, _ = tagged

    found, pages = search(registry, tag=f"{key}:vision")

    assert found == sorted(common)
    assert pages == 3


def test_a_rare_tag_finds_exactly_its_models(registry, tagged):
    key, _, _, rare = tagged

    found, pages = search(registry, tag=f"{key}:nlp")

    assert found == sorted(rare) and len(rare) == 3
    assert pages == 1


def test_tag_and_name_substring_combine(registry, tagged):
    key, prefix, common, _ = tagged

    found, _ = search(registry, tag=f"{key}:vision", q=f"{prefix}-1")

    assert found == sorted(name for name in common if f"{prefix}-1" in name)
    assert found  # the filter left something to compare


def test_name_substring_alone_pages_through_matches(registry, tagged):
    _, prefix, common, rare = tagged

    found, pages = search(registry, q=prefix)

    assert found == sorted(common + rare)
    assert pages == 3


def test_tags_that_are_not_text_match_as_before(registry, model_name):
    create_models(registry, [model_name], {"layers": 3, "public": True, "note": None})

    assert search(registry, q=model_name, tag="layers:3")[0] == [model_name]
    assert search(registry, q=model_name, tag="public:True")[0] == [model_name]
    assert search(registry, q=model_name, tag="note:None")[0] == [model_name]
    assert search(registry, q=model_name, tag="layers:4")[0] == []
    assert search(registry, q=model_name, tag="missing:x")[0] == []


def index_of(registry, model_name: str) -> dict[str, str]:
    with registry.services.sessions() as session:
        rows = session.scalars(select(ModelTag).where(ModelTag.model_name == model_name))
        return {row.key: row.value for row in rows}


def test_the_index_follows_creation_and_deletion(registry, model_name):
    created = registry.http.post(
        registry.api("/models"), json={"name": model_name, "tags": {"team": "vision", "n": 2}}
    )
    indexed = index_of(registry, model_name)

    deleted = registry.http.delete(registry.api(f"/models/{model_name}"))

    assert created.status_code == 201
    assert indexed == {"team": "vision", "n": "2"}
    assert deleted.status_code == 200
    assert index_of(registry, model_name) == {}
    assert search(registry, q=model_name, tag="team:vision")[0] == []


def test_a_tag_too_long_to_index_is_refused(registry, model_name):
    response = registry.http.post(
        registry.api("/models"), json={"name": model_name, "tags": {"notes": "x" * 300}}
    )

    assert response.status_code == 422
    assert "too long to search by" in response.json()["detail"]
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404
