"""Reads a client can revalidate (ETag, 304), few queries per read, tokens remembered briefly."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, update

from registry.db.models import Model, ModelVersion
from registry.logs import current_request_id
from tests.conftest import bearer_session, sibling_registry
from tests.files import fake_tflite


@pytest.fixture
def aliased(registry, model_name, tmp_path) -> str:
    """A model with two versions, `production` pointing at the first."""
    for number in (1, 2):
        model_file = fake_tflite(tmp_path / f"v{number}.tflite", size=4096 + number)
        registry.upload(model_name, model_file).raise_for_status()
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.put(alias_url, json={"version": 1}).raise_for_status()
    return model_name


def revalidate(registry, path: str, etag: str):
    return registry.http.get(registry.api(path), headers={"If-None-Match": etag})


@pytest.mark.parametrize("path", ["/models/{m}/versions/production", "/models/{m}"])
def test_a_current_etag_answers_304_without_a_body(registry, aliased, path):
    path = path.format(m=aliased)
    first = registry.http.get(registry.api(path))

    again = revalidate(registry, path, first.headers["ETag"])

    assert first.status_code == 200 and first.headers["ETag"]
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == first.headers["ETag"]


@pytest.mark.parametrize(
    "path", ["/models/{m}/versions/1", "/models/{m}/versions/2", "/models/{m}"]
)
def test_moving_an_alias_changes_the_etags_it_shows_in(registry, aliased, path):
    path = path.format(m=aliased)
    before = registry.http.get(registry.api(path)).headers["ETag"]

    registry.http.put(
        registry.api(f"/models/{aliased}/aliases/production"), json={"version": 2}
    ).raise_for_status()
    after = revalidate(registry, path, before)

    assert after.status_code == 200
    assert after.headers["ETag"] != before


def test_a_status_change_changes_the_versions_etag(registry, aliased):
    path = f"/models/{aliased}/versions/1"
    before = registry.http.get(registry.api(path))
    with registry.services.sessions.begin() as session:
        # What a worker's transaction writes when the version's last job ends.
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.id.in_(_version_ids(aliased)), ModelVersion.number == 1)
            .values(status="failed", status_detail="tflite: did not convert")
        )

    after = revalidate(registry, path, before.headers["ETag"])

    assert before.json()["status"] != "failed"
    assert after.status_code == 200 and after.json()["status"] == "failed"
    assert after.headers["ETag"] != before.headers["ETag"]


def _version_ids(model_name: str):
    return select(ModelVersion.id).join(Model).where(Model.name == model_name)


@contextmanager
def counted_statements(registry) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Headers naming a request, and the statements the registry's engine runs for it (other
    work, such as earlier uploads' jobs being marked sent, runs meanwhile in the background).
    Not the token check: it asks the database only once its remembered answer is too old."""
    request_id = uuid.uuid4().hex
    statements: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, _many) -> None:
        if current_request_id() != request_id or statement.startswith("BEGIN"):
            return
        if "FROM api_tokens" not in statement:
            statements.append(statement)

    engine = registry.services.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield {"X-Request-ID": request_id}, statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("ref", ["production", "1", "latest"])
def test_a_version_read_is_at_most_two_queries(registry, aliased, ref):
    path = registry.api(f"/models/{aliased}/versions/{ref}")
    registry.http.get(path).raise_for_status()  # warm: the compiled statements are cached

    with counted_statements(registry) as (named, statements):
        read = registry.http.get(path, headers=named)

    assert read.status_code == 200
    assert read.json()["artifacts"] and read.json()["jobs"]
    assert len(statements) <= 2, statements


def test_a_page_of_versions_costs_the_same_queries_however_many_versions(
    registry, aliased, tmp_path
):
    path = registry.api(f"/models/{aliased}/versions")
    registry.http.get(path).raise_for_status()
    with counted_statements(registry) as (named, two_versions):
        registry.http.get(path, headers=named).raise_for_status()
    for number in (3, 4, 5):
        model_file = fake_tflite(tmp_path / f"more{number}.tflite", size=5000 + number)
        registry.upload(aliased, model_file).raise_for_status()

    with counted_statements(registry) as (named, five_versions):
        page = registry.http.get(path, headers=named)

    assert len(page.json()["versions"]) == 5
    assert len(five_versions) == len(two_versions) <= 5, five_versions


def test_a_remembered_token_is_not_looked_up_again(registry):
    looked_up: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "FROM api_tokens" in statement:
            looked_up.append(statement)

    with sibling_registry(registry, token_cache_seconds=600) as other:
        event.listen(other.services.engine, "before_cursor_execute", note)
        try:
            first = other.http.get(other.api("/models"))
            again = [other.http.get(other.api("/models")).status_code for _ in range(3)]
        finally:
            event.remove(other.services.engine, "before_cursor_execute", note)

    assert first.status_code == 200 and again == [200, 200, 200]
    assert len(looked_up) == 1


def test_a_revoked_token_stops_working_within_the_cache_seconds(registry):
    name = f"cached-{uuid.uuid4().hex[:8]}"
    secret = registry.issue_token(name, "read")
    # Another API process on the same database: it learns of the revocation only by asking.
    with sibling_registry(registry, token_cache_seconds=0.5) as other:
        holder = bearer_session(secret)
        assert holder.get(other.api("/models")).status_code == 200

        registry.http.delete(registry.api(f"/tokens/{name}")).raise_for_status()
        deadline = time.monotonic() + 30
        status = 200
        while status == 200 and time.monotonic() < deadline:
            status = holder.get(other.api("/models")).status_code
            time.sleep(0.05)

    assert status == 401


def test_a_token_revoked_through_this_process_stops_working_at_once(registry):
    name = f"cached-{uuid.uuid4().hex[:8]}"
    holder = bearer_session(registry.issue_token(name, "read"))
    assert holder.get(registry.api("/models")).status_code == 200  # now remembered

    registry.http.delete(registry.api(f"/tokens/{name}")).raise_for_status()

    assert holder.get(registry.api("/models")).status_code == 401
