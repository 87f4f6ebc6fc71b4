"""Reads a client can revalidate (ETag, 304), few queries per read, answers equal to the shapes'
marshmallow dump, tokens remembered briefly."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from sqlalchemy import event, select, update

from registry import create_app
from registry.api import shapes
from registry.api.answers import ORJSON_OPTIONS
from registry.db.models import Alias, Artifact, ConversionJob, Model, ModelVersion, utcnow
from registry.domain import catalog
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


@pytest.fixture
def rich_version(registry, aliased) -> str:
    """Version 1 of `aliased` with what a version's answer can show: a variant derived from its
    source with parity figures, Flex ops and a GPU report, a failed job, a profile job, a
    compatibility verdict, inferred outputs and a second alias; the model with a card."""
    with registry.services.sessions.begin() as session:
        model = session.scalar(select(Model).where(Model.name == aliased))
        model.description = "# A card\n\nwith text"
        version = session.scalar(
            select(ModelVersion).where(ModelVersion.model == model, ModelVersion.number == 1)
        )
        version.status, version.status_detail = "failed", "savedmodel: did not convert"
        version.compatibility = [
            {
                "version": 2,
                "previous": False,
                "aliases": ["production"],
                "verdict": "breaking",
                "breaking": 1,
                "changes": 2,
            }
        ]
        version.inferred_outputs = {"output_nodes": ["probs"], "how": "the graph's only sink"}
        version.tags = {"team": "vision", "layers": 3}
        source = version.artifacts[0]
        now = utcnow()
        converted = ConversionJob(
            version=version,
            target_kind="tflite_fp16",
            status="succeeded",
            attempts=2,
            started_at=now,
            finished_at=now,
            outcome={"steps": ["convert"], "reused_from_job": None},
        )
        failed = ConversionJob(
            version=version,
            target_kind="saved_model",
            status="failed",
            error="no signature",
        )
        profile = ConversionJob(version=version, target_kind="profile", status="running")
        session.add_all([converted, failed, profile])
        session.flush()
        session.add(
            Artifact(
                version=version,
                kind="tflite_fp16",
                sha256="ab" * 32,
                size=2048,
                storage_key="sha256/ab",
                filename="m.tflite",
                parent_id=source.id,
                job_id=converted.id,
                parity={"outputs": {"probs": {"max_abs_diff": 1}}},
                parity_passed=True,
                facts={
                    "flex_ops": ["Erf"],
                    "report": {"gpu_delegate": {"fallback_ops": {"ERF": 2}}},
                    "profile": {"measured": True, "load_ms": 3, "latency_ms": {"p50": 1.5}},
                },
            )
        )
        session.add(Alias(model=model, name="canary", version=version, updated_by="tests"))
    return aliased


def test_read_answers_are_what_the_shapes_dump_of_the_orm_rows(registry, rich_version):
    """The read-only views answer from rows through compiled plans; the answers are marshmallow's
    dump of the ORM objects, byte for byte once encoded."""
    app = create_app(registry.settings, registry.services)
    with app.test_request_context(base_url=registry.url), registry.services.sessions() as session:
        model = catalog.get_model(session, rich_version, with_aliases=True)
        expected = {
            "1": shapes.Version().dump(catalog.resolve_version(session, model, "1")),
            "2": shapes.Version().dump(catalog.resolve_version(session, model, "2")),
            "model": shapes.Model().dump(model),
        }
        versions, _ = catalog.list_versions(session, model)
        expected["versions"] = shapes.VersionList().dump(
            {"versions": versions, "next_cursor": None}
        )
        found, _ = catalog.list_models(session, query=rich_version)
        expected["search"] = shapes.ModelList().dump({"models": found, "next_cursor": None})

    answers = {
        ref: registry.http.get(registry.api(f"/models/{rich_version}/versions/{ref}"))
        for ref in ("1", "2")
    }
    answers["model"] = registry.http.get(registry.api(f"/models/{rich_version}"))
    answers["versions"] = registry.http.get(registry.api(f"/models/{rich_version}/versions"))
    answers["search"] = registry.http.get(registry.api("/models"), params={"q": rich_version})

    for name, answer in answers.items():
        assert answer.status_code == 200
        assert answer.content == orjson.dumps(expected[name], option=ORJSON_OPTIONS), name
    rich = answers["1"].json()
    assert rich["aliases"] == ["canary", "production"] and rich["profile_job"]["status"]
    assert [a["derived_from"] for a in rich["artifacts"]] == [None, "tflite"]
    assert [a["download_url"] for a in rich["artifacts"]] == [
        registry.api(f"/models/{rich_version}/versions/1/artifacts/{kind}")
        for kind in ("tflite", "tflite_fp16")
    ]
    assert rich["ship"][-1]["flags"] and rich["compatibility"][0]["verdict"] == "breaking"
    assert answers["search"].json()["models"][0]["aliases"] == {"canary": 1, "production": 1}
